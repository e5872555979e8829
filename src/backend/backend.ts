/**
 * Backend mode's core: workspaces and revisions, the runtime registry, launch, and the
 * views the browser and operator APIs serve. Browser views never carry runtime
 * endpoints, tokens, data or source paths, or bundle digests.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { type Static, Type as T } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { Bundle } from "../bundle/model.ts";
import { ID_PATTERN, ProfileSelector } from "../bundle/model.ts";
import { type HostView, resolveWorker } from "../bundle/resolve.ts";
import { schemaErrors } from "../bundle/validate.ts";
import { BundlesyncError, isErrorCode, messageFor } from "../http/errors.ts";
import type { Logger } from "../log.ts";
import type { HostPolicy } from "../runtime/policy.ts";
import { Runtime } from "../runtime/runtime.ts";
import { EmbeddedClient, isTransient, RemoteClient, type RuntimeInfo } from "./clients.ts";
import { type BackendConfig, ENDPOINT_PATTERN, type RuntimeConfig, visibleTo } from "./config.ts";
import { BackendStore, type RuntimeRow, type WorkspaceRow } from "./store.ts";
import { type RuntimeEntry, SyncEngine } from "./sync.ts";
import { Workspaces } from "./workspaces.ts";

export const LaunchRequest = T.Object(
  {
    profile: T.Union([T.String({ minLength: 1, maxLength: 128 }), ProfileSelector]),
    runtimeId: T.Optional(T.String({ maxLength: 128 })),
    intent: T.Optional(
      T.Object(
        {
          goal: T.Optional(T.String({ maxLength: 16384 })),
          initialInput: T.Optional(T.String({ maxLength: 1 << 20 })),
        },
        { additionalProperties: false },
      ),
    ),
    requiredCapabilities: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 128 }), { maxItems: 256 })),
  },
  { additionalProperties: false },
);
export type LaunchRequest = Static<typeof LaunchRequest>;

export const RegisterRuntime = T.Object(
  {
    id: T.String({ pattern: ID_PATTERN }),
    name: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
    endpoint: T.String({ pattern: ENDPOINT_PATTERN, maxLength: 2048 }),
    token: T.Optional(T.String({ minLength: 8, maxLength: 4096 })),
    workspaces: T.Array(T.String({ minLength: 1, maxLength: 128 }), { maxItems: 1024 }),
  },
  { additionalProperties: false },
);
export type RegisterRuntime = Static<typeof RegisterRuntime>;

const LaunchCheck = TypeCompiler.Compile(LaunchRequest);
const RegisterCheck = TypeCompiler.Compile(RegisterRuntime);

/** Details that may reach a browser: pointers, rules and names, never digests. */
const BROWSER_DETAIL_KEYS = ["pointer", "rule", "reason", "kind", "ref", "capability", "plugin", "profile", "errors"];

export function browserError(err: unknown): BundlesyncError {
  if (!(err instanceof BundlesyncError)) return new BundlesyncError("internal", {});
  const details: Record<string, unknown> = {};
  for (const k of BROWSER_DETAIL_KEYS) if (err.details[k] !== undefined) details[k] = err.details[k];
  return new BundlesyncError(err.code, details);
}

function hostViewOf(info: RuntimeInfo): HostView {
  const p = info.policy;
  const mounts = new Set(p.mounts);
  const digests = new Set(p.plugins.allowDigests);
  return {
    requireBundle: p.requireBundle,
    builtinProfiles: new Set(p.builtinProfiles),
    secretAvailable: (name) => p.secrets.includes(name),
    mount: (name) => (mounts.has(name) ? { readOnly: true } : undefined),
    network: new Set(p.network),
    shell: p.shell,
    git: p.git,
    capabilities: new Set(p.capabilities),
    pluginAllowed: (d) => p.plugins.allowAll || digests.has(d),
  };
}

export interface BackendOptions {
  dataDir: string;
  config: BackendConfig;
  hostPolicy?: HostPolicy;
  log: Logger;
}

export class Backend {
  readonly store: BackendStore;
  readonly workspaces: Workspaces;
  readonly sync: SyncEngine;
  readonly embedded?: Runtime;
  private reconcileTimer?: ReturnType<typeof setInterval>;
  private readonly parsed = new Map<string, Bundle>();

  constructor(private readonly opts: BackendOptions) {
    const { config, log } = opts;
    this.store = new BackendStore(opts.dataDir);
    this.workspaces = new Workspaces(this.store, config.workspaceDirs, log, (id) => this.sync.requestWorkspace(id));
    this.sync = new SyncEngine(this.store, this.workspaces, config.sync, log);
    if (config.runtimes.some((r) => r.kind === "embedded")) {
      this.embedded = new Runtime({
        dataDir: join(opts.dataDir, "embedded-runtime"),
        policy: opts.hostPolicy,
        logger: log,
      });
    }
    this.store.replaceConfigRuntimes(config.runtimes.map((r) => this.rowOf(r, "config")));
    for (const row of this.store.runtimes()) this.sync.add(this.entryOf(row));
  }

  private rowOf(r: RuntimeConfig, origin: "config" | "admin"): RuntimeRow {
    return {
      id: r.id,
      name: r.name,
      kind: r.kind,
      endpoint: r.endpoint ?? null,
      token: r.token ?? null,
      workspaces: JSON.stringify(r.workspaces),
      origin,
    };
  }

  private entryOf(row: RuntimeRow): RuntimeEntry {
    const client =
      row.kind === "embedded"
        ? new EmbeddedClient(this.embedded!)
        : new RemoteClient(row.endpoint!, row.token ?? undefined, this.opts.config.sync.requestTimeoutMs);
    return { row, workspaces: JSON.parse(row.workspaces), client, status: row.kind === "embedded" ? "up" : "down" };
  }

  /** Builds every workspace, checks every runtime (which syncs those that are up), starts watching. */
  async start(): Promise<void> {
    this.workspaces.rebuildAll();
    // The embedded runtime is synced before the listening line; remote ones as they answer,
    // so an unreachable runtime never delays start-up.
    const runtimes = [...this.sync.runtimes.values()];
    for (const rt of runtimes) if (rt.row.kind !== "embedded") void this.sync.check(rt);
    await Promise.all(runtimes.filter((rt) => rt.row.kind === "embedded").map((rt) => this.sync.check(rt)));
    await this.sync.idle();
    this.workspaces.watch(this.opts.config.sync.debounceMs);
    this.sync.startHealthChecks();
    this.reconcileTimer = setInterval(() => {
      this.workspaces.rebuildAll();
      this.sync.requestAll();
    }, this.opts.config.sync.reconcileSeconds * 1000);
    this.reconcileTimer.unref?.();
  }

  // ---- views -------------------------------------------------------------

  private workspaceView(w: WorkspaceRow) {
    return {
      id: w.id,
      name: w.name,
      revision: w.revision,
      profiles: JSON.parse(w.profiles) as { name: string; description?: string }[],
      updatedAt: w.updated_at,
      source:
        w.source_state === "ok"
          ? { state: "ok" as const }
          : {
              state: "error" as const,
              error: { code: w.error_code ?? "invalid_source", message: w.error_message ?? "" },
            },
    };
  }

  listWorkspaces() {
    return this.store.workspaces().map((w) => this.workspaceView(w));
  }

  private requireWorkspace(id: string): WorkspaceRow {
    const w = this.store.workspace(id);
    if (!w) throw new BundlesyncError("workspace_not_found", {});
    return w;
  }

  private syncView(workspaceId: string) {
    const rows = new Map(this.store.syncOfWorkspace(workspaceId).map((r) => [r.runtime_id, r]));
    return this.sync.visibleRuntimes(workspaceId).map((rt) => {
      const r = rows.get(rt.row.id);
      const code = r?.error_code;
      return {
        runtimeId: rt.row.id,
        runtimeName: rt.row.name,
        state: r?.state ?? ("pending" as const),
        revision: r?.revision ?? null,
        lastSyncedAt: r?.last_synced_at ?? null,
        ...(code && { error: { code, message: isErrorCode(code) ? messageFor(code) : "The sync failed." } }),
      };
    });
  }

  getWorkspace(id: string) {
    const w = this.requireWorkspace(id);
    return { ...this.workspaceView(w), sync: this.syncView(id) };
  }

  resync(id: string) {
    this.requireWorkspace(id);
    this.workspaces.rebuildAll();
    this.sync.requestWorkspace(id, true);
    return this.syncView(id);
  }

  private runtimeView(rt: RuntimeEntry) {
    return {
      id: rt.row.id,
      name: rt.row.name,
      kind: rt.row.kind,
      status: rt.status,
      workspaces: rt.workspaces,
      lastSeenAt: rt.row.kind === "embedded" ? new Date().toISOString() : (rt.lastSeenAt ?? null),
    };
  }

  /** Operators may see endpoints, never tokens. */
  private adminRuntimeView(rt: RuntimeEntry) {
    return { ...this.runtimeView(rt), endpoint: rt.row.endpoint, origin: rt.row.origin };
  }

  listRuntimes() {
    return [...this.sync.runtimes.values()].map((rt) => this.runtimeView(rt));
  }

  listRuntimesAdmin() {
    return [...this.sync.runtimes.values()].map((rt) => this.adminRuntimeView(rt));
  }

  async registerRuntime(input: unknown) {
    if (!RegisterCheck.Check(input)) {
      throw new BundlesyncError("invalid_request", { errors: schemaErrors(RegisterCheck, input) });
    }
    if (this.sync.runtimes.has(input.id) || this.store.runtime(input.id))
      throw new BundlesyncError("runtime_conflict", {});
    const row = this.rowOf(
      {
        id: input.id,
        name: input.name ?? input.id,
        kind: "remote",
        endpoint: input.endpoint,
        token: input.token,
        workspaces: input.workspaces,
      },
      "admin",
    );
    this.store.upsertRuntime(row);
    const entry = this.entryOf(row);
    this.sync.add(entry);
    this.opts.log.info("runtime_registered", { runtimeId: row.id });
    await this.sync.check(entry);
    return this.adminRuntimeView(entry);
  }

  deleteRuntime(id: string) {
    const rt = this.sync.runtimes.get(id);
    if (!rt) throw new BundlesyncError("runtime_not_found", {});
    this.sync.remove(id);
    this.store.deleteRuntime(id);
    this.opts.log.info("runtime_deleted", { runtimeId: id });
    return this.adminRuntimeView(rt);
  }

  listWorkers() {
    return this.store.workers().map((w) => ({
      id: w.id,
      runtimeId: w.runtime_id,
      workspaceId: w.workspace_id,
      profile: w.profile,
      revision: w.revision,
      mode: w.mode,
      status: w.status,
      createdAt: w.created_at,
    }));
  }

  // ---- launch ------------------------------------------------------------

  private bundleOf(digest: string, bytes: string): Bundle {
    let b = this.parsed.get(digest);
    if (!b) {
      b = JSON.parse(bytes) as Bundle;
      this.parsed.clear(); // keep only the most recent; workspaces are few and bundles can be large
      this.parsed.set(digest, b);
    }
    return b;
  }

  async launch(workspaceId: string, input: unknown) {
    if (!LaunchCheck.Check(input)) {
      throw new BundlesyncError("invalid_request", { errors: schemaErrors(LaunchCheck, input) });
    }
    this.requireWorkspace(workspaceId);
    const selector = typeof input.profile === "string" ? { kind: "named", name: input.profile } : input.profile;
    const builtin = selector.kind === "builtin";
    const cur = builtin ? undefined : this.workspaces.current(workspaceId);
    if (!builtin && !cur) throw new BundlesyncError("bundle_required", { reason: "workspace_has_no_bundle" });

    let candidates: RuntimeEntry[];
    if (input.runtimeId !== undefined) {
      const rt = this.sync.runtimes.get(input.runtimeId);
      if (!rt) throw new BundlesyncError("runtime_not_found", {});
      if (!visibleTo(rt.workspaces, workspaceId)) throw new BundlesyncError("workspace_not_visible", {});
      candidates = [rt];
    } else {
      candidates = this.sync.visibleRuntimes(workspaceId);
      if (candidates.length === 0) throw new BundlesyncError("workspace_not_visible", {});
    }
    const up = candidates.filter((r) => r.status === "up" && r.info);
    if (up.length === 0) throw new BundlesyncError("runtime_unavailable", {});

    const request = {
      workerId: `w-${randomUUID()}`,
      profile: selector,
      ...(cur && { configBundle: { id: cur.bundleId, digest: cur.digest } }),
      ...(input.intent !== undefined && { intent: input.intent }),
      ...(input.requiredCapabilities !== undefined && { requiredCapabilities: input.requiredCapabilities }),
    };
    const bundle = cur ? this.bundleOf(cur.digest, cur.bytes) : undefined;
    // Prefer a runtime whose advertised policy satisfies the profile; else ask the first
    // one, so the caller gets that runtime's typed policy error.
    const fits = (rt: RuntimeEntry) => {
      try {
        resolveWorker(request as never, bundle, hostViewOf(rt.info!));
        return true;
      } catch {
        return false;
      }
    };
    const chosen = up.find(fits) ?? up[0]!;

    try {
      if (cur) await this.repair(chosen, cur);
      const { worker } = await chosen.client.createWorker(request);
      const row = {
        id: worker.id,
        runtime_id: chosen.row.id,
        workspace_id: workspaceId,
        profile: selector.name,
        revision: cur?.revision ?? null,
        mode: worker.mode,
        status: worker.status,
        created_at: worker.createdAt,
      };
      this.store.insertWorker(row);
      this.opts.log.info("worker_launched", {
        workerId: worker.id,
        runtimeId: chosen.row.id,
        workspaceId,
        workerMode: worker.mode,
      });
      return {
        id: row.id,
        runtimeId: row.runtime_id,
        workspaceId,
        profile: row.profile,
        revision: row.revision,
        mode: row.mode,
        status: row.status,
        createdAt: row.created_at,
      };
    } catch (err) {
      if (err instanceof BundlesyncError && err.code === "runtime_unavailable") void this.sync.check(chosen);
      throw browserError(err);
    }
  }

  /** Launch-time repair: make sure the runtime holds the bundle before asking for a Worker. */
  private async repair(rt: RuntimeEntry, cur: NonNullable<ReturnType<Workspaces["current"]>>) {
    const [avail] = await rt.client.availability([{ id: cur.bundleId, digest: cur.digest }]);
    if (avail?.status === "available") return;
    try {
      await rt.client.putBundle(cur.digest, cur.bytes);
      this.opts.log.info("sync_repaired_at_launch", { runtimeId: rt.row.id, workspaceId: cur.workspaceId });
      this.sync.request(rt.row.id, [cur.workspaceId]);
    } catch (err) {
      if (isTransient(err)) throw new BundlesyncError("runtime_unavailable", {});
      throw new BundlesyncError("sync_failed", { reason: err instanceof BundlesyncError ? err.code : "internal" });
    }
  }

  close(): void {
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    this.sync.close();
    this.workspaces.close();
    this.embedded?.close();
    this.store.close();
  }
}
