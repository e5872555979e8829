/**
 * The servers a benchmark compares, behind one interface: bundlesync (the compiled
 * executable in runtime mode), the raw Bun.serve + bun:sqlite baseline, and
 * docker-registry (the reference OCI distribution server). Each is started on loopback
 * with its own fresh data directory and stopped by the caller.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, Server, spawn } from "../tests/e2e/harness.ts";
import { BENCH_DIR, hasCommand, workDir } from "./lib.ts";

export const TOKEN = "bench-token-0123456789abcdef";

export interface Blob {
  digest: string;
  body: string;
  blobHex: string;
}

export interface Target {
  name: string;
  url: string;
  pid: number;
  /** URL a GET/HEAD of this blob goes to. */
  blobUrl(b: Blob): string;
  /** Headers every request carries (auth). */
  headers: Record<string, string>;
  /** Uploads one blob; true when stored (new or already there). */
  put(b: Blob): Promise<boolean>;
  stop(): Promise<void>;
}

export const BUNDLESYNC = "bundlesync";
export const RAW = "raw";
export const REGISTRY = "docker-registry";

export async function freePort(): Promise<number> {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port!;
  await s.stop(true);
  return port;
}

async function putJson(url: string, body: string, headers: Record<string, string>): Promise<boolean> {
  const res = await fetch(url, { method: "PUT", body, headers: { ...headers, "content-type": "application/json" } });
  await res.arrayBuffer();
  return res.status === 201 || res.status === 200;
}

export interface BundlesyncOptions {
  maxBundles?: number;
  dataDir?: string;
}

export async function startBundlesync(opts: BundlesyncOptions = {}): Promise<Target & { server: Server }> {
  const dir = workDir("bundlesync");
  const policy = join(dir, "policy.json");
  writeFileSync(policy, JSON.stringify({ limits: { maxBundles: opts.maxBundles ?? 200_000 } }));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, TOKEN);
  const server = await spawn("runtime", [
    "--listen",
    "127.0.0.1:0",
    "--data",
    opts.dataDir ?? join(dir, "data"),
    "--host-policy",
    policy,
    "--token-file",
    tokenFile,
  ]);
  const headers = { authorization: `Bearer ${TOKEN}` };
  return {
    name: BUNDLESYNC,
    url: server.url,
    pid: server.pid,
    server,
    headers,
    blobUrl: (b) => `${server.url}/v1/config-bundles/${b.digest}`,
    put: (b) => putJson(`${server.url}/v1/config-bundles/${b.digest}`, b.body, headers),
    stop: async () => {
      await server.stop();
    },
  };
}

export async function startRaw(): Promise<Target> {
  const dir = workDir("raw");
  const proc = Bun.spawn([process.execPath, join(BENCH_DIR, "raw-server.ts"), "--data", dir], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const server = new Server("raw", proc);
  await server.waitListening();
  return {
    name: RAW,
    url: server.url,
    pid: server.pid,
    headers: {},
    blobUrl: (b) => `${server.url}/v1/config-bundles/${b.digest}`,
    put: (b) => putJson(`${server.url}/v1/config-bundles/${b.digest}`, b.body, {}),
    stop: async () => {
      await server.stop();
    },
  };
}

export function registryAvailable(): boolean {
  return hasCommand("docker-registry");
}

/** `docker-registry serve CONFIG`, filesystem storage in a temp dir, bound to 127.0.0.1. */
export async function startRegistry(): Promise<Target> {
  const dir = workDir("registry");
  const port = await freePort();
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "storage")}`,
      "  cache:",
      "    blobdescriptor: inmemory",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "health:",
      "  storagedriver:",
      "    enabled: false",
      "",
    ].join("\n"),
  );
  const proc = Bun.spawn(["docker-registry", "serve", config], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const server = new Server("registry", proc);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (!server.alive) throw new Error(`docker-registry exited: ${server.stderr.slice(-3).join(" | ")}`);
    const ok = await fetch(`${url}/v2/`)
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await server.kill();
      throw new Error("docker-registry did not start");
    }
    await Bun.sleep(50);
  }
  return {
    name: REGISTRY,
    url,
    pid: server.pid,
    headers: {},
    blobUrl: (b) => `${url}/v2/bench/blobs/sha256:${b.blobHex}`,
    // Monolithic upload: POST opens a session, PUT <location>&digest= sends the bytes.
    put: async (b) => {
      const start = await fetch(`${url}/v2/bench/blobs/uploads/`, { method: "POST" });
      await start.arrayBuffer();
      const loc = start.headers.get("location");
      if (start.status !== 202 || !loc) return false;
      const target = new URL(loc, url);
      target.searchParams.set("digest", `sha256:${b.blobHex}`);
      const res = await fetch(target, {
        method: "PUT",
        body: b.body,
        headers: { "content-type": "application/octet-stream" },
      });
      await res.arrayBuffer();
      return res.status === 201;
    },
    stop: async () => {
      await server.stop();
    },
  };
}

export { BIN };
