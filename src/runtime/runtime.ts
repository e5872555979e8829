/**
 * class Runtime: the direct (embedded) library API of runtime mode. The REST API is a
 * thin adapter over it, and the backend's embedded client calls it directly, so both
 * paths share one validation, one set of errors and one result.
 */
import { randomUUID } from "node:crypto";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { canonicalJson, sha256Digest } from "../bundle/digest.ts";
import {
  AvailabilityRequest,
  type AvailabilityResult,
  type Bundle,
  type BundleSummary,
  CreateWorkerRequest,
  DIGEST_RE,
  ID_RE,
  type Worker,
} from "../bundle/model.ts";
import { resolveWorker } from "../bundle/resolve.ts";
import { schemaErrors, verifyBundle } from "../bundle/validate.ts";
import { BundlesyncError } from "../http/errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import { VERSION } from "../version.ts";
import { type HostPolicy, hostView, normalizePolicy, policyNames } from "./policy.ts";
import { RuntimeStore, toSummary } from "./store.ts";

const WorkerRequestCheck = TypeCompiler.Compile(CreateWorkerRequest);
const AvailabilityCheck = TypeCompiler.Compile(AvailabilityRequest);

export interface RuntimeOptions {
  dataDir: string;
  policy?: HostPolicy;
  logger?: Logger;
}

export interface PutResult {
  created: boolean;
  bundle: BundleSummary;
}

export interface WorkerResult {
  created: boolean;
  worker: Worker;
}

const encoder = new TextEncoder();
// xxHash3: the fastest checksum Bun has (about 1 µs for 64 KiB), used on every read.
const quickHash = (bytes: Uint8Array) => Bun.hash.xxHash3(bytes).toString(16);

function requireDigest(digest: string): void {
  if (!DIGEST_RE.test(digest)) {
    throw new BundlesyncError("invalid_request", {
      errors: [{ path: "/digest", message: "Expected sha256:<64 lowercase hex>" }],
    });
  }
}

export class Runtime {
  readonly policy: HostPolicy;
  readonly id: string;
  private readonly store: RuntimeStore;
  private readonly host;
  private readonly log: Logger;
  /**
   * Rows fully re-verified by this process -> checksum of the bytes that verified. Later
   * reads compare against this in-memory value, not the row's own `check_hash`, so a row
   * rewritten on disk together with its checksum is still caught.
   */
  private readonly verified = new Map<string, string>();
  private bundleCount: number;

  constructor(opts: RuntimeOptions) {
    this.policy = opts.policy ?? normalizePolicy({});
    this.host = hostView(this.policy);
    this.log = opts.logger ?? silentLogger;
    this.store = new RuntimeStore(opts.dataDir);
    let id = this.store.meta("runtime_id");
    if (!id) {
      id = `rt-${randomUUID()}`;
      this.store.setMeta("runtime_id", id);
    }
    this.id = id;
    this.bundleCount = this.store.counts().n;
  }

  info() {
    const counts = this.store.counts();
    const workers = this.store.workerCounts();
    return {
      id: this.id,
      version: VERSION,
      counts: {
        bundles: counts.n - counts.q,
        quarantined: counts.q,
        workers: workers.n,
        activeWorkers: workers.active,
      },
      policy: policyNames(this.policy),
    };
  }

  /**
   * Verifies and stores a bundle addressed by `digest`. Idempotent. `received` is the
   * request body the value was parsed from, when there was one.
   */
  putBundle(digest: string, input: unknown, received?: { text: string; bytes: Uint8Array }): PutResult {
    requireDigest(digest);
    const { bundle, bytes } = verifyBundle(input, digest);
    // Senders that already send canonical bytes (the backend does) are stored as received.
    const body = received?.text === bytes ? received.bytes : encoder.encode(bytes);
    if (body.byteLength > this.policy.limits.maxBundleBytes) {
      throw new BundlesyncError("payload_too_large", { limit: this.policy.limits.maxBundleBytes });
    }
    const existing = this.store.summary(digest);
    if (existing && existing.quarantined === 0) return { created: false, bundle: toSummary(existing) };
    if (!existing && this.bundleCount >= this.policy.limits.maxBundles) {
      throw new BundlesyncError("store_full", { limit: this.policy.limits.maxBundles });
    }
    const m = bundle.metadata;
    const check = quickHash(body);
    const created = this.store.insertBundle({
      digest,
      id: m.id,
      workspace_id: m.workspaceId,
      revision: m.revision,
      created_at: m.createdAt,
      provenance: canonicalJson(m.provenance),
      profile_count: bundle.content.profiles.length,
      declaration_count: bundle.content.declarations?.length ?? 0,
      size_bytes: body.byteLength,
      stored_at: new Date().toISOString(),
      body,
      check_hash: check,
    });
    if (created && !existing) this.bundleCount++;
    if (created) {
      this.verified.set(digest, check);
      this.log.info("bundle_stored", { bundleId: m.id, workspaceId: m.workspaceId, revision: m.revision });
    }
    return { created, bundle: toSummary(this.store.summary(digest)!) };
  }

  private corrupt(digest: string): never {
    this.store.quarantine(digest);
    this.verified.delete(digest);
    this.log.error("bundle_quarantined", { reason: "reverification_failed" });
    throw new BundlesyncError("config_bundle_corrupt", {});
  }

  /** Full re-verification of a stored row: parse, digest, every store-time rule. */
  private reverify(digest: string, body: Uint8Array): void {
    try {
      const parsed = JSON.parse(new TextDecoder().decode(body));
      verifyBundle(parsed, digest);
    } catch {
      this.corrupt(digest);
    }
  }

  /** Canonical bytes of a stored bundle, verified (fully once per process, by checksum after). */
  getBundleBytes(digest: string): Uint8Array {
    requireDigest(digest);
    const row = this.store.bodyOf(digest);
    if (!row) throw new BundlesyncError("config_bundle_missing", {});
    return this.checkedBody(digest, row);
  }

  /** Full re-verification, then the checksum later reads of this process compare against. */
  private verifyRow(digest: string, body: Uint8Array): void {
    this.reverify(digest, body);
    this.verified.set(digest, quickHash(body));
  }

  private checkedBody(digest: string, row: { body: Uint8Array; quarantined: number }): Uint8Array {
    if (row.quarantined) throw new BundlesyncError("config_bundle_corrupt", {});
    const known = this.verified.get(digest);
    if (known === undefined) {
      this.verifyRow(digest, row.body);
    } else if (quickHash(row.body) !== known) {
      this.corrupt(digest);
    }
    return row.body;
  }

  getBundle(digest: string): Bundle {
    return JSON.parse(new TextDecoder().decode(this.getBundleBytes(digest)));
  }

  /**
   * Whether a bundle is stored and servable. Answers from the row's flags once this
   * process has verified the bytes (a HEAD or a 304 serves no bytes), and verifies them
   * in full first otherwise.
   */
  hasBundle(digest: string): boolean {
    requireDigest(digest);
    const state = this.store.quarantinedOf(digest);
    if (state === undefined) return false;
    if (state) throw new BundlesyncError("config_bundle_corrupt", {});
    if (!this.verified.has(digest)) this.getBundleBytes(digest);
    return true;
  }

  listBundles(filter: { workspaceId?: string; id?: string; limit?: number } = {}): BundleSummary[] {
    return this.store.listBundles(filter, filter.limit ?? 1000).map(toSummary);
  }

  availability(input: unknown): AvailabilityResult[] {
    if (!AvailabilityCheck.Check(input)) {
      throw new BundlesyncError("invalid_request", { errors: schemaErrors(AvailabilityCheck, input) });
    }
    const refs = input.refs;
    const present = new Map(this.store.presentDigests(refs.map((r) => r.digest)).map((r) => [r.digest, r.id]));
    const missingIds = [...new Set(refs.filter((r) => present.get(r.digest) !== r.id).map((r) => r.id))];
    const byId = new Map<string, string[]>();
    if (missingIds.length > 0) {
      for (const r of this.store.digestsOfIds(missingIds)) {
        const list = byId.get(r.id) ?? [];
        list.push(r.digest);
        byId.set(r.id, list);
      }
    }
    return refs.map((r) => {
      if (present.get(r.digest) === r.id) return { id: r.id, digest: r.digest, status: "available" as const };
      const others = byId.get(r.id);
      if (others && others.length > 0) {
        return { id: r.id, digest: r.digest, status: "digest_mismatch" as const, availableDigests: others };
      }
      return { id: r.id, digest: r.digest, status: "missing" as const };
    });
  }

  deleteBundle(digest: string): BundleSummary {
    requireDigest(digest);
    const row = this.store.summary(digest);
    if (!row) throw new BundlesyncError("config_bundle_missing", {});
    if (this.store.activeUsers(digest) > 0) throw new BundlesyncError("config_bundle_in_use", {});
    this.store.deleteBundle(digest);
    this.verified.delete(digest);
    this.bundleCount--;
    this.log.info("bundle_deleted", { bundleId: row.id });
    return toSummary(row);
  }

  /** The bundle a Worker asks for, or the typed reason it cannot have it. */
  private bundleFor(ref: { id: string; digest: string }): Bundle {
    const row = this.store.summary(ref.digest);
    if (row && row.id === ref.id) return this.getBundle(ref.digest);
    const others = this.store.digestsOfIds([ref.id]).map((r) => r.digest);
    if (others.length > 0) throw new BundlesyncError("config_bundle_digest_mismatch", { availableDigests: others });
    throw new BundlesyncError("config_bundle_missing", {});
  }

  createWorker(input: unknown): WorkerResult {
    if (!WorkerRequestCheck.Check(input)) {
      throw new BundlesyncError("invalid_request", { errors: schemaErrors(WorkerRequestCheck, input) });
    }
    const req = input;
    const requestHash = sha256Digest(canonicalJson(req));
    if (req.workerId !== undefined) {
      const existing = this.store.worker(req.workerId);
      if (existing) {
        if (existing.request_hash !== requestHash) throw new BundlesyncError("worker_conflict", {});
        return { created: false, worker: JSON.parse(existing.doc) };
      }
    }
    const bundle = req.configBundle && req.profile.kind !== "builtin" ? this.bundleFor(req.configBundle) : undefined;
    if (req.configBundle && req.profile.kind === "builtin") {
      throw new BundlesyncError("invalid_profile", { reason: "builtin_with_bundle" });
    }
    const { mode, spec } = resolveWorker(req, bundle, this.host);
    const worker: Worker = {
      id: req.workerId ?? `w-${randomUUID()}`,
      status: "ready",
      mode,
      profile: req.profile,
      ...(req.configBundle && { configBundle: { id: req.configBundle.id, digest: req.configBundle.digest } }),
      ...(req.displayName !== undefined && { displayName: req.displayName }),
      createdAt: new Date().toISOString(),
      spec,
    };
    this.store.insertWorker({
      id: worker.id,
      requestHash,
      bundleDigest: worker.configBundle?.digest,
      status: worker.status,
      createdAt: worker.createdAt,
      doc: JSON.stringify(worker),
    });
    this.log.info("worker_created", { workerId: worker.id, workerMode: mode });
    return { created: true, worker };
  }

  getWorker(id: string): Worker {
    const row = ID_RE.test(id) ? this.store.worker(id) : undefined;
    if (!row) throw new BundlesyncError("worker_not_found", {});
    return JSON.parse(row.doc);
  }

  listWorkers(): Worker[] {
    return this.store.workers().map((r) => JSON.parse(r.doc));
  }

  stopWorker(id: string): Worker {
    const worker = this.getWorker(id);
    if (worker.status === "stopped") return worker;
    const stopped: Worker = { ...worker, status: "stopped" };
    this.store.updateWorker(id, "stopped", JSON.stringify(stopped));
    this.log.info("worker_stopped", { workerId: id });
    return stopped;
  }

  /** Re-verifies up to `limit` rows after `cursor`; returns the next cursor ("" when done). */
  scrub(cursor = "", limit = 200): string {
    const page = this.store.scrubPage(cursor, limit);
    for (const digest of page) {
      const row = this.store.bodyOf(digest);
      if (!row) continue;
      try {
        this.verifyRow(digest, row.body);
      } catch {
        // quarantined by reverify; keep scrubbing
      }
    }
    return page.length < limit ? "" : page[page.length - 1]!;
  }

  close(): void {
    this.store.close();
  }
}
