/**
 * Fixtures for the runtime HTTP tests: a valid config bundle (digest filled in through the
 * product's own digest functions), a host policy, a fresh data dir and a request helper.
 */
import { Database } from "bun:sqlite";
import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Bundle, Content } from "../../src/bundle/model.ts";
import { runtimeApp } from "../../src/runtime/http.ts";
import { type HostPolicyFile, normalizePolicy } from "../../src/runtime/policy.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { acme, bundleOf, digestedPrompt, seal } from "../fixtures/bundles.ts";

export const LINT_DIGEST = `sha256:${"ab".repeat(32)}`;
export const OTHER_PLUGIN_DIGEST = `sha256:${"cd".repeat(32)}`;

const BASE_TEXT = "You are a careful assistant for the Acme platform team.";
const CODER_TEXT = "You fix bugs with small, tested changes.";

/**
 * Content with one profile per host-policy check, so a test picks the failure it wants
 * by profile name rather than by rebuilding the bundle.
 */
export function baseContent(): Content {
  return {
    workspace: acme.workspace({ description: "Acme agents", labels: { team: "platform" } }),
    language: acme.language(),
    profiles: [
      { name: "base", description: "root", model: "default", prompts: ["base-system"] },
      acme.coder({ requires: ["repo", "shell", "git", "github"] }),
      { name: "reviewer", prompts: ["base-system"] },
      { name: "on-builtin", extends: "builtin:companion" },
      { name: "on-missing-builtin", extends: "builtin:nonexistent" },
      { name: "needs-github-token", requires: ["github-token"] },
      { name: "needs-docs-mount", requires: ["docs"] },
      { name: "needs-slack", requires: ["slack"] },
      { name: "needs-browser", requires: ["browser"] },
      { name: "needs-other-plugin", plugins: ["other"] },
    ],
    prompts: [digestedPrompt("base-system", BASE_TEXT), digestedPrompt("coder-system", CODER_TEXT)],
    workflows: [acme.reviewLoop()],
    tools: [acme.shellTool()],
    plugins: [
      acme.plugin("lint", "1.2.0", LINT_DIGEST, { provides: ["tool:lint"], grants: ["network:github"] }),
      acme.plugin("other", "0.1.0", OTHER_PLUGIN_DIGEST),
    ],
    models: [acme.defaultModel({ options: { temperature: 0.2 } })],
    declarations: acme.hostCheckDeclarations({ capabilities: ["browser"] }),
  };
}

export interface BundleOptions {
  id?: string;
  workspaceId?: string;
  revision?: number;
  content?: Content;
}

/** A bundle whose `metadata.digest` is the contract digest of its content. */
export function makeBundle(opts: BundleOptions = {}): Bundle {
  const workspaceId = opts.workspaceId ?? "acme";
  const content = opts.content ?? baseContent();
  content.workspace.id = workspaceId;
  const bundle = bundleOf(content, {
    id: opts.id ?? "acme.default",
    workspaceId,
    revision: opts.revision ?? 1,
    provenance: { source: "workspace-dir", detail: "git:3f2c1aa" },
  });
  return seal(bundle);
}

/** Recomputes and stores the digest, for a bundle edited after `makeBundle`. */
export { seal };

export const TOKEN = "tok-Sentinel-9f8e7d6c5b4a39281706";
export const SECRET_ENV = "BUNDLESYNC_TEST_SENTINEL_SECRET_ENV";
export const SECRET_VALUE = "s3cr3t-Sentinel-Value-4242-zzqx";
export const SECRET_FILE = "/var/lib/sentinel-secret-dir/github-token";
export const MOUNT_PATH = "/srv/sentinel-host-mount/acme-repo";

export function hostPolicy(overrides: HostPolicyFile = {}): HostPolicyFile {
  return {
    secrets: {
      "anthropic-api-key": { env: SECRET_ENV },
      "github-token": { file: SECRET_FILE },
    },
    mounts: { repo: { path: MOUNT_PATH, readOnly: false } },
    network: ["github"],
    shell: true,
    git: true,
    capabilities: ["shell", "git"],
    plugins: { allowDigests: [LINT_DIGEST] },
    ...overrides,
  };
}

export interface Harness {
  runtime: Runtime;
  dataDir: string;
  app: ReturnType<typeof runtimeApp>;
  /** Sends a request through `app.handle`; JSON-encodes `body` unless it is a string. */
  call(method: string, path: string, init?: CallInit): Promise<Response>;
  /** The same data dir seen by a new Runtime (a restarted process). */
  reopen(): Harness;
}

export interface CallInit {
  body?: unknown;
  headers?: Record<string, string>;
  /** Send without the bearer token. */
  anonymous?: boolean;
}

let dirs: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "bundlesync-http-"));
  dirs.push(dir);
  return dir;
}

let open: Runtime[] = [];

/** Closes every Runtime a test opened and removes its data dirs. */
export function cleanup(): void {
  for (const r of open) r.close();
  open = [];
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
}

export function harness(policy: HostPolicyFile = hostPolicy(), dataDir = tempDir()): Harness {
  const runtime = new Runtime({ dataDir, policy: normalizePolicy(policy) });
  open.push(runtime);
  const app = runtimeApp(runtime, { token: TOKEN });
  const call = (method: string, path: string, init: CallInit = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    if (!init.anonymous) headers.authorization ??= `Bearer ${TOKEN}`;
    let body: string | undefined;
    if (init.body !== undefined) {
      body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    return app.handle(new Request(`http://localhost${path}`, { method, headers, body }));
  };
  return {
    runtime,
    dataDir,
    app,
    call,
    reopen: () => harness(policy, dataDir),
  };
}

/** Asserts an error response is exactly the contract's envelope with this status and code; returns details. */
export async function expectError(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
  const body = (await res.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(["code", "details", "message"]);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.details).toBe("object");
  expect(body.error.details).not.toBeNull();
  expect(Array.isArray(body.error.details)).toBe(false);
  return body.error.details;
}

/** Runs SQL against the runtime's database file through a separate connection, as another process would. */
export function onDisk<T>(dataDir: string, sql: string, ...params: (string | number | Uint8Array)[]): T[] {
  const db = new Database(join(dataDir, "runtime.sqlite"));
  try {
    return db.query(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
