/**
 * One RuntimeClient interface, two implementations: embedded (the in-process Runtime,
 * direct calls, no HTTP) and remote (fetch to the runtime REST API with its bearer
 * token). Both surface the runtime's typed errors as BundlesyncError with the same code;
 * messages are always the backend's own, written from the code.
 */
import type { AvailabilityResult, Bundle, BundleSummary, Worker } from "../bundle/model.ts";
import { BundlesyncError, type ErrorCode, isErrorCode } from "../http/errors.ts";
import type { Runtime } from "../runtime/runtime.ts";

export interface RuntimeInfo {
  id: string;
  version: string;
  counts: Record<string, number>;
  policy: {
    requireBundle: boolean;
    builtinProfiles: string[];
    secrets: string[];
    mounts: string[];
    network: string[];
    shell: boolean;
    git: boolean;
    capabilities: string[];
    plugins: { allowAll: boolean; allowDigests: string[] };
  };
}

export interface RuntimeClient {
  readonly kind: "embedded" | "remote";
  info(): Promise<RuntimeInfo>;
  putBundle(digest: string, bundle: Bundle | string): Promise<{ created: boolean; bundle: BundleSummary }>;
  getBundle(digest: string): Promise<Bundle>;
  hasBundle(digest: string): Promise<boolean>;
  listBundles(filter?: { workspaceId?: string; id?: string }): Promise<BundleSummary[]>;
  availability(refs: { id: string; digest: string }[]): Promise<AvailabilityResult[]>;
  deleteBundle(digest: string): Promise<BundleSummary>;
  createWorker(request: unknown): Promise<{ created: boolean; worker: Worker }>;
  getWorker(id: string): Promise<Worker>;
  listWorkers(): Promise<Worker[]>;
  stopWorker(id: string): Promise<Worker>;
}

/** True for failures worth retrying: the runtime could not be reached or answered 5xx. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof BundlesyncError)) return true;
  return err.code === "runtime_unavailable" || err.code === "internal" || err.status >= 500;
}

export class EmbeddedClient implements RuntimeClient {
  readonly kind = "embedded" as const;
  constructor(private readonly runtime: Runtime) {}

  /** Same error surface as the remote client: the code, and only the details it would pass on. */
  private async call<T>(fn: () => T): Promise<T> {
    try {
      return fn();
    } catch (e) {
      if (e instanceof BundlesyncError) throw new BundlesyncError(e.code, pickDetails(e.details));
      throw e;
    }
  }
  info() {
    return this.call(() => this.runtime.info() as RuntimeInfo);
  }
  putBundle(digest: string, bundle: Bundle | string) {
    return this.call(() => this.runtime.putBundle(digest, typeof bundle === "string" ? parseBody(bundle) : bundle));
  }
  getBundle(digest: string) {
    return this.call(() => this.runtime.getBundle(digest));
  }
  hasBundle(digest: string) {
    return this.call(() => this.runtime.hasBundle(digest));
  }
  listBundles(filter: { workspaceId?: string; id?: string } = {}) {
    return this.call(() => this.runtime.listBundles(filter));
  }
  availability(refs: { id: string; digest: string }[]) {
    return this.call(() => this.runtime.availability({ refs }));
  }
  deleteBundle(digest: string) {
    return this.call(() => this.runtime.deleteBundle(digest));
  }
  createWorker(request: unknown) {
    return this.call(() => this.runtime.createWorker(request));
  }
  getWorker(id: string) {
    return this.call(() => this.runtime.getWorker(id));
  }
  listWorkers() {
    return this.call(() => this.runtime.listWorkers());
  }
  stopWorker(id: string) {
    return this.call(() => this.runtime.stopWorker(id));
  }
}

/** Text as the REST API reads a body: empty is no body, anything else must be JSON (invalid_json). */
function parseBody(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new BundlesyncError("invalid_json", {});
  }
}

/** Details a runtime may send that are safe to pass on: pointers, rules, names. */
const SAFE_DETAIL_KEYS = [
  "pointer",
  "rule",
  "reason",
  "kind",
  "ref",
  "capability",
  "plugin",
  "profile",
  "errors",
  "availableDigests",
  "supported",
  "limit",
];

function pickDetails(details: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (details && typeof details === "object") {
    for (const k of SAFE_DETAIL_KEYS) {
      const v = (details as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = v;
    }
  }
  return out;
}

export class RemoteClient implements RuntimeClient {
  readonly kind = "remote" as const;
  private readonly base: string;

  constructor(
    endpoint: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 10_000,
  ) {
    this.base = endpoint.replace(/\/+$/, "");
  }

  private async request<T>(
    method: string,
    path: string,
    body?: string,
    expect404 = false,
  ): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch {
      // Connection refused, reset, DNS, timeout: never surface the transport's message (it names the endpoint).
      throw new BundlesyncError("runtime_unavailable", {});
    }
    if (expect404 && res.status === 404 && method === "HEAD") return { status: 404, body: undefined as T };
    if (method === "HEAD") {
      if (res.status === 200) return { status: 200, body: undefined as T };
      // A HEAD error has no body to carry its code; the same GET fails the same way and does.
      if (res.status !== 401) await this.request("GET", path);
      throw this.statusError(res.status, undefined);
    }
    const text = await res.text().catch(() => "");
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.status >= 200 && res.status < 300) return { status: res.status, body: parsed as T };
    throw this.statusError(res.status, parsed);
  }

  private statusError(status: number, parsed: unknown): BundlesyncError {
    const err = (parsed as { error?: { code?: unknown; details?: unknown } } | undefined)?.error;
    if (err && isErrorCode(err.code)) return new BundlesyncError(err.code as ErrorCode, pickDetails(err.details));
    if (status === 401) return new BundlesyncError("unauthorized", {});
    if (status >= 500) return new BundlesyncError("runtime_unavailable", {});
    return new BundlesyncError("sync_failed", { status });
  }

  async info() {
    return (await this.request<{ runtime: RuntimeInfo }>("GET", "/v1/runtime")).body.runtime;
  }
  async putBundle(digest: string, bundle: Bundle | string) {
    const body = typeof bundle === "string" ? bundle : JSON.stringify(bundle);
    const res = await this.request<{ bundle: BundleSummary }>(
      "PUT",
      `/v1/config-bundles/${encodeURIComponent(digest)}`,
      body,
    );
    return { created: res.status === 201, bundle: res.body.bundle };
  }
  async getBundle(digest: string) {
    return (await this.request<Bundle>("GET", `/v1/config-bundles/${encodeURIComponent(digest)}`)).body;
  }
  async hasBundle(digest: string) {
    const res = await this.request("HEAD", `/v1/config-bundles/${encodeURIComponent(digest)}`, undefined, true);
    return res.status === 200;
  }
  async listBundles(filter: { workspaceId?: string; id?: string } = {}) {
    const qs = new URLSearchParams();
    if (filter.workspaceId !== undefined) qs.set("workspaceId", filter.workspaceId);
    if (filter.id !== undefined) qs.set("id", filter.id);
    const q = qs.size > 0 ? `?${qs}` : "";
    return (await this.request<{ bundles: BundleSummary[] }>("GET", `/v1/config-bundles${q}`)).body.bundles;
  }
  async availability(refs: { id: string; digest: string }[]) {
    const res = await this.request<{ results: AvailabilityResult[] }>(
      "POST",
      "/v1/config-bundles/availability",
      JSON.stringify({ refs }),
    );
    return res.body.results;
  }
  async deleteBundle(digest: string) {
    return (await this.request<{ bundle: BundleSummary }>("DELETE", `/v1/config-bundles/${encodeURIComponent(digest)}`))
      .body.bundle;
  }
  async createWorker(request: unknown) {
    const res = await this.request<{ worker: Worker }>("POST", "/v1/workers", JSON.stringify(request));
    return { created: res.status === 201, worker: res.body.worker };
  }
  async getWorker(id: string) {
    return (await this.request<{ worker: Worker }>("GET", `/v1/workers/${encodeURIComponent(id)}`)).body.worker;
  }
  async listWorkers() {
    return (await this.request<{ workers: Worker[] }>("GET", "/v1/workers")).body.workers;
  }
  async stopWorker(id: string) {
    return (await this.request<{ worker: Worker }>("POST", `/v1/workers/${encodeURIComponent(id)}/stop`)).body.worker;
  }
}
