/**
 * End-to-end harness: spawns the compiled `dist/bundlesync`, waits for its `listening`
 * line, collects its log lines, stops it (SIGTERM or SIGKILL), and builds valid bundles.
 * Shared by the runtime and backend e2e suites, so nothing here is runtime-specific.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Subprocess } from "bun";
import { bundleDigest } from "../../src/bundle/digest.ts";
import type { Bundle, Content } from "../../src/bundle/model.ts";
import { bundleOf, sealWithPrompts } from "../fixtures/bundles.ts";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = fileURLToPath(new URL("../../dist/bundlesync", import.meta.url));
export const EXAMPLES = join(REPO_ROOT, "examples");

/** Generous: the binary is large and CI machines are slow. Not a performance assertion. */
export const START_TIMEOUT_MS = 30_000;
export const STOP_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------
// Polling and temp dirs

export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = START_TIMEOUT_MS,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}

const tempDirs: string[] = [];

/** A fresh directory under os.tmpdir(), removed by `cleanup()`. */
export function tempDir(prefix = "bundlesync-e2e-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------
// Environment

/** The parent's environment without any BUNDLESYNC_* twin, so tests only see what they set. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("BUNDLESYNC_")) env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

// ---------------------------------------------------------------------------------------
// Line collection

/** Pumps a byte stream into `lines` (one entry per `\n`-terminated line, plus a trailing partial at the end). */
function collectLines(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  const reader = stream.getReader();
  return (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        let nl = pending.indexOf("\n");
        while (nl >= 0) {
          lines.push(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          nl = pending.indexOf("\n");
        }
      }
    } catch {
      // the process died; what we have is what it wrote
    }
    pending += decoder.decode();
    if (pending !== "") lines.push(pending);
  })();
}

// ---------------------------------------------------------------------------------------
// Servers

export interface ServerOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Wait for the listening line (default true). */
  waitListening?: boolean;
}

export class Server {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  url = "";
  private readonly drained: Promise<void>;

  constructor(
    readonly mode: string,
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
  ) {
    this.drained = Promise.all([collectLines(proc.stdout, this.stdout), collectLines(proc.stderr, this.stderr)]).then(
      () => {},
    );
  }

  get pid(): number {
    return this.proc.pid;
  }

  get exitCode(): number | null {
    return this.proc.exitCode;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The parsed `listening` line, once it appears. */
  listeningLine(): { event: string; mode: string; url: string } | undefined {
    for (const line of this.stdout) {
      if (!line.includes('"event":"listening"')) continue;
      try {
        return JSON.parse(line);
      } catch {
        // keep looking
      }
    }
    return undefined;
  }

  async waitListening(timeoutMs = START_TIMEOUT_MS): Promise<string> {
    const line = await waitFor(
      () => {
        const l = this.listeningLine();
        if (l) return l;
        if (!this.alive) {
          throw new Error(`bundlesync exited (${this.proc.exitCode}) before listening: ${this.stderr.join(" | ")}`);
        }
        return undefined;
      },
      "the listening line",
      timeoutMs,
    );
    this.url = line.url;
    return this.url;
  }

  /** Parsed JSON log lines from stderr (non-JSON lines are kept as `{raw}`). */
  logs(): Record<string, unknown>[] {
    return this.stderr.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { raw: l };
      }
    });
  }

  /** Everything the process wrote, for leak scans. */
  output(): string {
    return [...this.stdout, ...this.stderr].join("\n");
  }

  /** Waits for exit; its code (null if killed by a signal). Output is fully drained. */
  async exited(timeoutMs = STOP_TIMEOUT_MS): Promise<number | null> {
    let timer: Timer | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), timeoutMs);
    });
    const result = await Promise.race([this.proc.exited, timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      this.proc.kill("SIGKILL");
      await this.proc.exited;
      await this.drained;
      throw new Error("bundlesync did not exit in time; killed");
    }
    await this.drained;
    return this.proc.exitCode;
  }

  /** SIGTERM and wait; returns the exit code (the contract wants 0). */
  async stop(): Promise<number | null> {
    if (this.alive) this.proc.kill("SIGTERM");
    return this.exited();
  }

  /** SIGKILL (`kill -9`) and wait. */
  async kill(): Promise<void> {
    if (this.alive) this.proc.kill("SIGKILL");
    await this.exited();
  }
}

const live = new Set<Server>();

/** Spawns `dist/bundlesync --mode <mode> ...args` (mode omitted when null) and, by default, waits until it listens. */
export async function spawn(
  mode: string | null,
  args: string[] = [],
  env: Record<string, string | undefined> = {},
  opts: Omit<ServerOptions, "env"> = {},
): Promise<Server> {
  const cmd = [BIN, ...(mode === null ? [] : ["--mode", mode]), ...args];
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? tempDir("bundlesync-cwd-"),
    env: cleanEnv(env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const server = new Server(mode ?? "", proc);
  live.add(server);
  proc.exited.then(() => live.delete(server));
  if (opts.waitListening !== false) {
    try {
      await server.waitListening();
    } catch (e) {
      await server.kill();
      throw e;
    }
  }
  return server;
}

/** SIGKILL every process still running and remove temp dirs. Call from afterAll. */
export async function cleanup(): Promise<void> {
  await Promise.all([...live].map((s) => s.kill().catch(() => {})));
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// One-shot CLI runs

export interface CliResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export async function runCli(
  args: string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; stdin?: string } = {},
): Promise<CliResult> {
  const proc = Bun.spawn([BIN, ...args], {
    cwd: opts.cwd ?? tempDir("bundlesync-cwd-"),
    env: cleanEnv(opts.env),
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  // A misbehaving run (one that starts a server instead of failing) must not hang the suite.
  const timer = setTimeout(() => proc.kill("SIGKILL"), START_TIMEOUT_MS);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  clearTimeout(timer);
  return { exitCode: proc.exitCode, stdout, stderr };
}

/** Non-empty lines of a text. */
export const linesOf = (text: string) => text.split("\n").filter((l) => l !== "");

// ---------------------------------------------------------------------------------------
// HTTP

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  bytes: Uint8Array;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience, bodies are asserted field by field
  json: any;
}

export interface Client {
  url: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult>;
}

/** A small fetch wrapper; `token` adds `Authorization: Bearer`. Bodies that are strings are sent as-is. */
export function client(url: string, token?: string): Client {
  return {
    url,
    async request(method, path, body, headers = {}) {
      const h: Record<string, string> = { ...headers };
      if (token !== undefined && h.authorization === undefined) h.authorization = `Bearer ${token}`;
      let payload: string | undefined;
      if (body !== undefined) {
        payload = typeof body === "string" ? body : JSON.stringify(body);
        h["content-type"] ??= "application/json";
      }
      const res = await fetch(`${url}${path}`, { method, headers: h, body: payload });
      const bytes = new Uint8Array(await res.arrayBuffer());
      const text = new TextDecoder().decode(bytes);
      let json: unknown;
      try {
        json = text === "" ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, bytes, json };
    },
  };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
}

// ---------------------------------------------------------------------------------------
// Bundles

export interface BundleOptions {
  /** Makes the content (and so the digest) unique. */
  nonce?: string;
  id?: string;
  workspaceId?: string;
  revision?: number;
  createdAt?: string;
  /** Replaces parts of the default content. */
  content?: Partial<Content>;
}

let counter = 0;

/**
 * A small valid bundle: profiles `base` (extends builtin:companion) and `assistant`
 * (extends base), which need nothing from the host, so any host policy accepts them.
 */
export function makeBundle(opts: BundleOptions = {}): Bundle {
  const nonce = opts.nonce ?? `n${process.pid}-${Date.now()}-${counter++}`;
  const workspaceId = opts.workspaceId ?? "e2e";
  const content: Content = {
    workspace: { id: workspaceId, name: "End-to-end workspace", project: { description: `nonce ${nonce}` } },
    language: { default: "en", allowed: ["en"] },
    profiles: [
      { name: "base", description: "Shared rules.", extends: "builtin:companion", prompts: ["base-system"] },
      { name: "assistant", description: "Answers questions.", extends: "base", prompts: ["assistant-system"] },
    ],
    prompts: [
      { name: "base-system", text: `Be precise. (${nonce})` },
      { name: "assistant-system", text: "Answer the question you were asked." },
    ],
    ...opts.content,
  };
  return sealWithPrompts(
    bundleOf(content, {
      id: opts.id ?? `${workspaceId}.default`,
      workspaceId,
      revision: opts.revision ?? 1,
      createdAt: opts.createdAt,
      provenance: { source: "e2e", detail: nonce },
    }),
  );
}

/** Fills in prompt digests and `metadata.digest` after a (test) edit of the content. */
export { sealWithPrompts as seal };

/** The digest recomputed from a served bundle, for re-verification after a round trip. */
export function recomputeDigest(bundle: unknown): string {
  return bundleDigest(bundle as Bundle);
}
