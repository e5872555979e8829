/**
 * Backend e2e helpers on top of harness.ts: free ports, temp copies of the example
 * workspace and host policy, token files, backend config files, and runtime/backend
 * processes with their API clients.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, client, EXAMPLES, type Server, spawn, tempDir, waitFor } from "./harness.ts";

/** Polls get a generous deadline: other suites share this machine. Not a performance assertion. */
export const CONVERGE_MS = 30_000;

/** Per-test timeout: a step may start processes and wait out a few convergence deadlines. */
export const E2E_TIMEOUT_MS = 120_000;

/** Small sync timings so tests converge fast; reconcile is long so events, not the timer, drive sync. */
export const FAST_SYNC = {
  reconcileSeconds: 3600,
  healthSeconds: 0.3,
  retryBaseMs: 100,
  retryMaxMs: 1000,
  debounceMs: 50,
  requestTimeoutMs: 5000,
};

/** A TCP port that was free a moment ago (bound on port 0, read, released). */
export async function freePort(): Promise<number> {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port;
  await s.stop(true);
  if (port === undefined) throw new Error("no port");
  return port;
}

/** A temp copy of examples/workspace, at `parent/name` (parent defaults to a fresh temp dir). */
export function copyWorkspace(parent = tempDir("bundlesync-ws-"), name = "workspace"): string {
  const dir = join(parent, name);
  cpSync(join(EXAMPLES, "workspace"), dir, { recursive: true });
  return dir;
}

/** A temp copy of examples/host-policy.yaml with its secrets dir; returns the policy path. */
export function copyHostPolicy(parent = tempDir("bundlesync-policy-")): string {
  mkdirSync(parent, { recursive: true });
  cpSync(join(EXAMPLES, "secrets"), join(parent, "secrets"), { recursive: true });
  const path = join(parent, "host-policy.yaml");
  cpSync(join(EXAMPLES, "host-policy.yaml"), path);
  return path;
}

/** Writes `text` to `parent/name` and returns the path. */
export function writeTo(parent: string, name: string, text: string): string {
  mkdirSync(parent, { recursive: true });
  const path = join(parent, name);
  writeFileSync(path, text);
  return path;
}

export interface RuntimeSpec {
  id: string;
  name?: string;
  endpoint: string;
  tokenFile?: string;
  workspaces: string[];
}

/** A backend config entry for a started runtime: its endpoint and token file, seeing `workspaces`. */
export function runtimeEntry(
  id: string,
  rt: { endpoint: string; tokenFile: string },
  workspaces: string[],
  name?: string,
): RuntimeSpec {
  return { id, ...(name === undefined ? {} : { name }), endpoint: rt.endpoint, tokenFile: rt.tokenFile, workspaces };
}

/** Writes a backend config (JSON is YAML) and returns its path. */
export function writeBackendConfig(
  parent: string,
  cfg: { workspaces: string[]; runtimes: RuntimeSpec[]; sync?: Partial<typeof FAST_SYNC> },
): string {
  return writeTo(
    parent,
    "backend.yaml",
    JSON.stringify(
      {
        workspaces: cfg.workspaces.map((source) => ({ source })),
        runtimes: cfg.runtimes,
        sync: { ...FAST_SYNC, ...cfg.sync },
      },
      null,
      2,
    ),
  );
}

/** Replaces one line of a workspace file (e.g. a profile's description). */
export function editLine(file: string, startsWith: string, line: string): void {
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.startsWith(startsWith));
  if (i < 0) throw new Error(`no line starting with ${startsWith}`);
  lines[i] = line;
  writeFileSync(file, lines.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Processes

export interface RuntimeProc {
  server: Server;
  api: Client;
  port: number;
  data: string;
  token: string;
  tokenFile: string;
  endpoint: string;
  policy?: string;
  env: Record<string, string | undefined>;
}

/** Starts a runtime with a token on a fixed port (picked free unless given), so it can be restarted at the same address. */
export async function startRuntime(opts: {
  token: string;
  data?: string;
  port?: number;
  policy?: string;
  env?: Record<string, string | undefined>;
}): Promise<RuntimeProc> {
  const port = opts.port ?? (await freePort());
  const data = opts.data ?? join(tempDir("bundlesync-rt-"), "data");
  const tokenFile = writeTo(tempDir("bundlesync-rt-token-"), "token", `${opts.token}\n`);
  const env = opts.env ?? {};
  const args = ["--listen", `127.0.0.1:${port}`, "--data", data, "--token-file", tokenFile];
  if (opts.policy) args.push("--host-policy", opts.policy);
  const server = await spawn("runtime", args, env);
  return {
    server,
    api: client(server.url, opts.token),
    port,
    data,
    token: opts.token,
    tokenFile,
    endpoint: `http://127.0.0.1:${port}`,
    policy: opts.policy,
    env,
  };
}

/** Starts the same runtime again: same port, data dir, token and policy. */
export async function restartRuntime(rt: RuntimeProc): Promise<RuntimeProc> {
  // The port was just released; a brief retry covers a slow socket teardown.
  let last: unknown;
  for (let i = 0; i < 10; i++) {
    try {
      return await startRuntime({ token: rt.token, data: rt.data, port: rt.port, policy: rt.policy, env: rt.env });
    } catch (e) {
      last = e;
      await Bun.sleep(300);
    }
  }
  throw last;
}

export interface BackendProc {
  server: Server;
  api: Client;
  data: string;
  args: string[];
  env: Record<string, string | undefined>;
}

/** Starts `--mode backend --listen 127.0.0.1:0` with the given config and data dir. */
export async function startBackend(opts: {
  config: string;
  data: string;
  hostPolicy?: string;
  apiToken?: string;
  env?: Record<string, string | undefined>;
}): Promise<BackendProc> {
  const args = ["--listen", "127.0.0.1:0", "--data", opts.data, "--config", opts.config];
  if (opts.hostPolicy) args.push("--host-policy", opts.hostPolicy);
  if (opts.apiToken) args.push("--api-token-file", writeTo(tempDir("bundlesync-api-token-"), "token", opts.apiToken));
  const env = opts.env ?? {};
  const server = await spawn("backend", args, env);
  const api = client(server.url, opts.apiToken);
  return { server, api, data: opts.data, args, env };
}

// ---------------------------------------------------------------------------------------
// Observations

export interface BundleSummary {
  id: string;
  digest: string;
  revision: number;
  workspaceId: string;
}

/** The bundles a runtime holds (its own REST API), newest revision first. */
export async function bundlesOn(rt: RuntimeProc, workspaceId?: string): Promise<BundleSummary[]> {
  const q = workspaceId === undefined ? "" : `?workspaceId=${encodeURIComponent(workspaceId)}`;
  const r = await rt.api.request("GET", `/v1/config-bundles${q}`);
  if (r.status !== 200) throw new Error(`GET /v1/config-bundles: ${r.status}`);
  return r.json.bundles;
}

export interface SyncEntry {
  runtimeId: string;
  runtimeName: string;
  state: "synced" | "pending" | "failed";
  revision: number | null;
  lastSyncedAt: string | null;
  error?: { code: string; message: string };
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
export async function workspaceView(be: BackendProc, id = "acme"): Promise<any> {
  const r = await be.api.request("GET", `/api/v1/workspaces/${id}`);
  if (r.status !== 200) throw new Error(`GET /api/v1/workspaces/${id}: ${r.status}`);
  return r.json.workspace;
}

export async function syncEntry(
  be: BackendProc,
  runtimeId: string,
  workspaceId = "acme",
): Promise<SyncEntry | undefined> {
  const ws = await workspaceView(be, workspaceId);
  return (ws.sync as SyncEntry[]).find((s) => s.runtimeId === runtimeId);
}

export async function runtimeStatus(be: BackendProc, runtimeId: string): Promise<string | undefined> {
  const r = await be.api.request("GET", "/api/v1/runtimes");
  return (r.json.runtimes as { id: string; status: string }[]).find((x) => x.id === runtimeId)?.status;
}

/** Polls until the runtime's newest acme bundle has this revision; returns it. */
export function waitForRevision(rt: RuntimeProc, revision: number, workspaceId = "acme"): Promise<BundleSummary> {
  return waitFor(
    async () => {
      const b = (await bundlesOn(rt, workspaceId).catch(() => []))[0];
      return b?.revision === revision ? b : undefined;
    },
    `revision ${revision} on the runtime`,
    CONVERGE_MS,
    100,
  );
}

/** A `waitForSync` predicate: the runtime is synced at exactly this revision. */
export const syncedAt =
  (revision: number) =>
  (s: SyncEntry): boolean =>
    s.state === "synced" && s.revision === revision;

/** Polls until the backend reports this sync state and revision for the runtime. */
export function waitForSync(
  be: BackendProc,
  runtimeId: string,
  want: (s: SyncEntry) => boolean,
  what: string,
  workspaceId = "acme",
): Promise<SyncEntry> {
  return waitFor(
    async () => {
      const s = await syncEntry(be, runtimeId, workspaceId).catch(() => undefined);
      return s && want(s) ? s : undefined;
    },
    what,
    CONVERGE_MS,
    100,
  );
}

// ---------------------------------------------------------------------------------------
// A counting proxy, to see what the backend sends a runtime

export interface CountingProxy {
  endpoint: string;
  /** Requests forwarded so far, keyed `METHOD /path` (no query). */
  count(method: string, pathPrefix: string): number;
  stop(): Promise<void>;
}

/** Forwards every request to `target` unchanged and counts them; a real loopback hop. */
export function countingProxy(target: string): CountingProxy {
  const seen: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      seen.push(`${req.method} ${url.pathname}`);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
      try {
        const res = await fetch(`${target}${url.pathname}${url.search}`, {
          method: req.method,
          headers: req.headers,
          body,
        });
        const headers = new Headers(res.headers);
        headers.delete("content-encoding");
        headers.delete("content-length");
        return new Response(req.method === "HEAD" ? null : await res.arrayBuffer(), { status: res.status, headers });
      } catch {
        return new Response(null, { status: 502 });
      }
    },
  });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    count: (method, pathPrefix) => seen.filter((s) => s.startsWith(`${method} ${pathPrefix}`)).length,
    stop: () => server.stop(true),
  };
}
