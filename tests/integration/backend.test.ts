/**
 * Backend mode in-process: a `Backend` over a temp copy of the example workspace, with an
 * embedded runtime under the example host policy, driven through `backendApp(...).handle`.
 * Covers every /api/v1 and /admin/v1 endpoint, auth, the error envelope, workspace
 * revisions (edits, unchanged rebuilds, broken sources and their recovery), the parity of
 * `bundlesync bundle build` with the backend, and what the browser API must never show.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Backend } from "../../src/backend/backend.ts";
import { loadBackendConfig } from "../../src/backend/config.ts";
import { backendApp } from "../../src/backend/http.ts";
import { buildWorkspace } from "../../src/bundle/build.ts";
import { jsonLogger } from "../../src/log.ts";
import { runtimeApp } from "../../src/runtime/http.ts";
import { loadHostPolicy } from "../../src/runtime/policy.ts";
import { Runtime } from "../../src/runtime/runtime.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLES = join(REPO_ROOT, "examples");
/** The CLI from source (these tests run before the executable is built; e2e covers dist/). */
const CLI = [process.execPath, join(REPO_ROOT, "src", "main.ts")];

const API_TOKEN = "backend-api-token-0123456789";
const RUNTIME_TOKEN = "build-box-runtime-token-0123456789";
const AWS_KEY = "AKIAIOSFODNN7EXAMPLE";
const HOST_PATH = "/home/alice/.config/acme-model";
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const root = mkdtempSync(join(tmpdir(), "bundlesync-backend-it-"));
const wsDir = join(root, "workspace");
const policyDir = join(root, "policy");
const dataDir = join(root, "data");
cpSync(join(EXAMPLES, "workspace"), wsDir, { recursive: true });
mkdirSync(policyDir);
copyFileSync(join(EXAMPLES, "host-policy.yaml"), join(policyDir, "host-policy.yaml"));
cpSync(join(EXAMPLES, "secrets"), join(policyDir, "secrets"), { recursive: true });

const logLines: string[] = [];
const log = jsonLogger({}, (line) => logLines.push(line));

let backend: Backend;
let app: ReturnType<typeof backendApp>;

// A second, networked runtime for the operator API: a real Runtime behind its REST API.
const remoteRuntime = new Runtime({ dataDir: join(root, "remote-runtime") });
const remoteApp = runtimeApp(remoteRuntime, { token: RUNTIME_TOKEN });
const remoteServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => remoteApp.handle(req) });
const REMOTE_URL = `http://127.0.0.1:${remoteServer.port}`;

/** A loopback port nothing listens on. */
async function deadEndpoint(): Promise<string> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = probe.port;
  await probe.stop(true);
  return `http://127.0.0.1:${port}`;
}

/** Every /api/v1 response body, for the leak checks at the end. */
const apiBodies: { path: string; text: string }[] = [];

interface Res {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are asserted field by field
  json: any;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string | null; headers?: Record<string, string> } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? API_TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    headers["content-type"] ??= "application/json";
  }
  const res = await app.handle(new Request(`http://localhost${path}`, { method, headers, body: payload }));
  const text = await res.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (path.startsWith("/api/")) apiBodies.push({ path, text });
  return { status: res.status, headers: res.headers, text, json };
}

function expectError(res: Res, status: number, code: string) {
  expect({ status: res.status, body: res.json }).toEqual({
    status,
    body: { error: { code, message: expect.any(String), details: expect.any(Object) } },
  });
}

const current = () => {
  const cur = backend.workspaces.current("acme");
  if (!cur) throw new Error("acme has no current bundle");
  return cur;
};
const embeddedDigests = () => backend.embedded!.listBundles({ workspaceId: "acme" }).map((b) => b.digest);
const workspace = async () => (await call("GET", "/api/v1/workspaces/acme")).json.workspace;
const syncOf = async (runtimeId: string) =>
  // biome-ignore lint/suspicious/noExplicitAny: response rows
  (await workspace()).sync.find((s: any) => s.runtimeId === runtimeId);

/** The embedded runtime's row in a runtime list; the operator API adds `extra` (endpoint, origin). */
const localRuntimeRow = (extra: Record<string, unknown> = {}) => ({
  id: "local",
  name: "Local (embedded)",
  kind: "embedded",
  status: "up",
  workspaces: ["*"],
  lastSeenAt: expect.stringMatching(ISO),
  ...extra,
});
/** The registered remote runtime's row in a runtime list; the operator API adds `extra`. */
const buildBoxRow = (extra: Record<string, unknown> = {}) => ({
  id: "build-box",
  name: "Build box",
  kind: "remote",
  status: "up",
  workspaces: ["acme"],
  lastSeenAt: expect.stringMatching(ISO),
  ...extra,
});
/** A runtime's sync entry, synced at revision 1 unless `extra` says otherwise. */
const syncedRev1 = (runtimeId: string, runtimeName: string, extra: Record<string, unknown> = {}) => ({
  runtimeId,
  runtimeName,
  state: "synced",
  revision: 1,
  lastSyncedAt: expect.stringMatching(ISO),
  ...extra,
});

/** POST /admin/v1/runtimes with the test runtime token. */
const register = (id: string, endpoint: string, workspaces: string[], extra: Record<string, unknown> = {}) =>
  call("POST", "/admin/v1/runtimes", { id, ...extra, endpoint, token: RUNTIME_TOKEN, workspaces });

function rebuild() {
  backend.workspaces.rebuildAll();
  return backend.sync.idle();
}

const file = (rel: string) => join(wsDir, rel);
const read = (rel: string) => readFileSync(file(rel), "utf8");
const write = (rel: string, text: string) => writeFileSync(file(rel), text);

beforeAll(async () => {
  backend = new Backend({
    dataDir,
    config: loadBackendConfig({ workspaces: [wsDir], embedded: true }),
    hostPolicy: loadHostPolicy(join(policyDir, "host-policy.yaml")),
    log,
  });
  await backend.start();
  await backend.sync.idle();
  app = backendApp(backend, { token: API_TOKEN });
});

afterAll(async () => {
  backend?.close();
  await remoteServer.stop(true);
  remoteRuntime.close();
  rmSync(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------

describe("auth, routing and the error envelope", () => {
  test("GET /healthz is open and returns {status: ok}", async () => {
    const res = await call("GET", "/healthz", undefined, { token: null });
    expect({ status: res.status, body: res.json }).toEqual({ status: 200, body: { status: "ok" } });
  });

  test("GET / (the console) is open and serves HTML", async () => {
    const res = await call("GET", "/", undefined, { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.text.toLowerCase()).toContain("<html");
  });

  test("/api/v1 without a token or with a wrong token is 401 unauthorized", async () => {
    expectError(await call("GET", "/api/v1/workspaces", undefined, { token: null }), 401, "unauthorized");
    expectError(
      await call("GET", "/api/v1/workspaces", undefined, { token: "wrong-token-000000" }),
      401,
      "unauthorized",
    );
    expectError(
      await call("POST", "/api/v1/workspaces/acme/workers", { profile: "coder" }, { token: null }),
      401,
      "unauthorized",
    );
    expect(backend.listWorkers()).toEqual([]);
  });

  test("/admin/v1 without a token is 401 unauthorized and registers nothing", async () => {
    expectError(await call("GET", "/admin/v1/runtimes", undefined, { token: null }), 401, "unauthorized");
    const body = { id: "sneaky", endpoint: REMOTE_URL, token: RUNTIME_TOKEN, workspaces: ["*"] };
    expectError(await call("POST", "/admin/v1/runtimes", body, { token: null }), 401, "unauthorized");
    expectError(await call("DELETE", "/admin/v1/runtimes/local", undefined, { token: null }), 401, "unauthorized");
    expect(backend.listRuntimes().map((r) => r.id)).toEqual(["local"]);
  });

  test("an unknown route is 404 not_found in the envelope", async () => {
    expectError(await call("GET", "/api/v1/nothing-here"), 404, "not_found");
    expectError(await call("GET", "/admin/v1/nothing-here"), 404, "not_found");
    expectError(await call("GET", "/no-such-page", undefined, { token: null }), 404, "not_found");
  });

  test("a known route with the wrong method is 405 method_not_allowed in the envelope", async () => {
    expectError(await call("DELETE", "/api/v1/workspaces"), 405, "method_not_allowed");
    expectError(await call("GET", "/api/v1/workspaces/acme/resync"), 405, "method_not_allowed");
    expectError(await call("PUT", "/admin/v1/runtimes"), 405, "method_not_allowed");
  });

  test("an unknown workspace is 404 workspace_not_found on every workspace route", async () => {
    expectError(await call("GET", "/api/v1/workspaces/nope"), 404, "workspace_not_found");
    expectError(await call("POST", "/api/v1/workspaces/nope/resync"), 404, "workspace_not_found");
    expectError(
      await call("POST", "/api/v1/workspaces/nope/workers", { profile: "coder" }),
      404,
      "workspace_not_found",
    );
  });
});

describe("browser API", () => {
  test("GET /api/v1/workspaces lists the workspace at revision 1 with its profiles", async () => {
    const res = await call("GET", "/api/v1/workspaces");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      workspaces: [
        {
          id: "acme",
          name: "Acme",
          revision: 1,
          profiles: [
            { name: "base", description: "Shared ground rules for every Acme agent." },
            { name: "coder", description: "Fixes bugs and writes code in the Acme repository." },
            {
              name: "researcher",
              description: "Browses documentation and summarises findings in Japanese or English.",
            },
            { name: "reviewer", description: "Reviews pull requests; reads the repository, never writes." },
          ],
          updatedAt: expect.stringMatching(ISO),
          source: { state: "ok" },
        },
      ],
    });
  });

  test("GET /api/v1/workspaces/{id} adds the sync state of every visible runtime", async () => {
    const res = await call("GET", "/api/v1/workspaces/acme");
    expect(res.status).toBe(200);
    const list = (await call("GET", "/api/v1/workspaces")).json.workspaces[0];
    expect(res.json).toEqual({
      workspace: {
        ...list,
        sync: [syncedRev1("local", "Local (embedded)")],
      },
    });
    expect(embeddedDigests()).toEqual([current().digest]);
  });

  test("GET /api/v1/runtimes lists the embedded runtime as up, without endpoints", async () => {
    const res = await call("GET", "/api/v1/runtimes");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      runtimes: [localRuntimeRow()],
    });
  });

  test("POST /api/v1/workspaces/{id}/workers launches a bundle-mode Worker (201)", async () => {
    const res = await call("POST", "/api/v1/workspaces/acme/workers", {
      profile: "coder",
      intent: { goal: "Fix the flaky test" },
      requiredCapabilities: ["shell"],
    });
    expect(res.status).toBe(201);
    expect(res.json).toEqual({
      worker: {
        id: expect.any(String),
        runtimeId: "local",
        workspaceId: "acme",
        profile: "coder",
        revision: 1,
        mode: "bundle",
        status: "ready",
        createdAt: expect.stringMatching(ISO),
      },
    });
    const onRuntime = backend.embedded!.getWorker(res.json.worker.id);
    expect(onRuntime).toMatchObject({
      mode: "bundle",
      profile: { kind: "named", name: "coder" },
      configBundle: { id: "acme.default", digest: current().digest },
      spec: { profile: { chain: ["builtin:companion", "base", "coder"] }, intent: { goal: "Fix the flaky test" } },
    });
  });

  test("POST .../workers with a selector object launches that profile", async () => {
    const res = await call("POST", "/api/v1/workspaces/acme/workers", {
      profile: { kind: "named", name: "reviewer" },
      runtimeId: "local",
    });
    expect(res.status).toBe(201);
    expect(res.json.worker).toMatchObject({ profile: "reviewer", mode: "bundle", revision: 1, runtimeId: "local" });
  });

  test("POST .../workers with a builtin selector launches a builtin-mode Worker with no revision", async () => {
    const res = await call("POST", "/api/v1/workspaces/acme/workers", {
      profile: { kind: "builtin", name: "companion" },
    });
    expect(res.status).toBe(201);
    expect(res.json.worker).toMatchObject({ profile: "companion", mode: "builtin", revision: null, status: "ready" });
    expect(backend.embedded!.getWorker(res.json.worker.id).configBundle).toBeUndefined();
  });

  test("GET /api/v1/workers lists the launched Workers", async () => {
    const res = await call("GET", "/api/v1/workers");
    expect(res.status).toBe(200);
    expect(res.json.workers).toHaveLength(3);
    for (const w of res.json.workers) {
      expect(Object.keys(w).sort()).toEqual(
        ["createdAt", "id", "mode", "profile", "revision", "runtimeId", "status", "workspaceId"].sort(),
      );
    }
    // biome-ignore lint/suspicious/noExplicitAny: response rows
    expect(res.json.workers.map((w: any) => [w.profile, w.mode]).sort()).toEqual([
      ["coder", "bundle"],
      ["companion", "builtin"],
      ["reviewer", "bundle"],
    ]);
  });

  test("launch with a body that does not fit the schema is 400 invalid_request with error paths", async () => {
    const empty = await call("POST", "/api/v1/workspaces/acme/workers", {});
    expectError(empty, 400, "invalid_request");
    expect(empty.json.error.details.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: "/profile" })]),
    );
    expectError(
      await call("POST", "/api/v1/workspaces/acme/workers", { profile: "coder", mountPath: "/srv" }),
      400,
      "invalid_request",
    );
    expectError(await call("POST", "/api/v1/workspaces/acme/workers", { profile: "" }), 400, "invalid_request");
    expectError(await call("POST", "/api/v1/workspaces/acme/workers"), 400, "invalid_request");
  });

  test("launch with a body that is not JSON is 400 invalid_json; not application/json is 415", async () => {
    expectError(await call("POST", "/api/v1/workspaces/acme/workers", "{nope"), 400, "invalid_json");
    expectError(
      await call("POST", "/api/v1/workspaces/acme/workers", "profile=coder", {
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
      415,
      "unsupported_media_type",
    );
  });

  test("launch of a profile not in the workspace is 422 invalid_profile", async () => {
    const res = await call("POST", "/api/v1/workspaces/acme/workers", { profile: "nobody" });
    expectError(res, 422, "invalid_profile");
    expect(res.json.error.details).toEqual({ reason: "profile_not_in_bundle", profile: "nobody" });
  });

  test("launch needing a capability no runtime has is 403 capability_denied", async () => {
    const res = await call("POST", "/api/v1/workspaces/acme/workers", {
      profile: "coder",
      requiredCapabilities: ["gpu"],
    });
    expectError(res, 403, "capability_denied");
    expect(res.json.error.details).toEqual({ capability: "gpu" });
  });

  test("launch on an unknown runtimeId is 404 runtime_not_found", async () => {
    expectError(
      await call("POST", "/api/v1/workspaces/acme/workers", { profile: "coder", runtimeId: "ghost" }),
      404,
      "runtime_not_found",
    );
  });

  test("failed launches store no Worker", async () => {
    expect((await call("GET", "/api/v1/workers")).json.workers).toHaveLength(3);
    expect(backend.embedded!.listWorkers()).toHaveLength(3);
  });

  test("POST /api/v1/workspaces/{id}/resync is 202 with the sync state", async () => {
    const res = await call("POST", "/api/v1/workspaces/acme/resync");
    expect(res.status).toBe(202);
    expect(res.json).toEqual({
      sync: [syncedRev1("local", "Local (embedded)", { state: expect.stringMatching(/^(synced|pending)$/) })],
    });
    await backend.sync.idle();
    expect(await syncOf("local")).toMatchObject({ state: "synced", revision: 1 });
  });
});

describe("operator API", () => {
  let deadUrl = "";

  beforeAll(async () => {
    deadUrl = await deadEndpoint();
  });

  test("GET /admin/v1/runtimes lists the embedded runtime with its origin", async () => {
    const res = await call("GET", "/admin/v1/runtimes");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      runtimes: [localRuntimeRow({ endpoint: null, origin: "config" })],
    });
  });

  test("POST /admin/v1/runtimes registers a remote runtime (201), shows its endpoint, never its token", async () => {
    const res = await register("build-box", REMOTE_URL, ["acme"], { name: "Build box" });
    expect(res.status).toBe(201);
    expect(res.json).toEqual({
      runtime: buildBoxRow({ endpoint: REMOTE_URL, origin: "admin" }),
    });
    expect(res.text).not.toContain(RUNTIME_TOKEN);
    const list = await call("GET", "/admin/v1/runtimes");
    // biome-ignore lint/suspicious/noExplicitAny: response rows
    expect(list.json.runtimes.map((r: any) => r.id)).toEqual(["local", "build-box"]);
    expect(list.text).not.toContain(RUNTIME_TOKEN);
  });

  test("a registered runtime receives the workspace's bundle and shows in the sync state", async () => {
    await backend.sync.idle();
    expect(remoteRuntime.hasBundle(current().digest)).toBe(true);
    expect(await syncOf("build-box")).toEqual(syncedRev1("build-box", "Build box"));
  });

  test("GET /api/v1/runtimes shows the registered runtime without endpoint or token", async () => {
    const res = await call("GET", "/api/v1/runtimes");
    expect(res.json.runtimes).toContainEqual(buildBoxRow());
  });

  test("launch with runtimeId runs the Worker on that runtime", async () => {
    const res = await call("POST", "/api/v1/workspaces/acme/workers", {
      profile: { kind: "builtin", name: "reviewer" },
      runtimeId: "build-box",
    });
    expect(res.status).toBe(201);
    expect(res.json.worker).toMatchObject({ runtimeId: "build-box", mode: "builtin", profile: "reviewer" });
    expect(remoteRuntime.getWorker(res.json.worker.id).mode).toBe("builtin");
  });

  test("registering an id that exists is 409 runtime_conflict", async () => {
    const body = { id: "build-box", endpoint: deadUrl, token: RUNTIME_TOKEN, workspaces: ["acme"] };
    expectError(await call("POST", "/admin/v1/runtimes", body), 409, "runtime_conflict");
    expectError(await call("POST", "/admin/v1/runtimes", { ...body, id: "local" }), 409, "runtime_conflict");
    const list = await call("GET", "/admin/v1/runtimes");
    // biome-ignore lint/suspicious/noExplicitAny: response rows
    expect(list.json.runtimes.find((r: any) => r.id === "build-box").endpoint).toBe(REMOTE_URL);
  });

  test("registering with a body that does not fit the schema is 400 invalid_request", async () => {
    const good = { id: "box-2", endpoint: deadUrl, token: RUNTIME_TOKEN, workspaces: ["acme"] };
    const bad: Record<string, unknown>[] = [
      {},
      { ...good, id: "bad id!" },
      { ...good, endpoint: "ftp://example.com" },
      { ...good, endpoint: "not a url" },
      { ...good, token: "short" },
      { ...good, workspaces: "acme" },
      { ...good, tokenFile: "/etc/passwd" },
    ];
    for (const body of bad) {
      const res = await call("POST", "/admin/v1/runtimes", body);
      expectError(res, 400, "invalid_request");
      expect(res.json.error.details.errors).toEqual(expect.any(Array));
      expect(res.json.error.details.errors.length).toBeGreaterThan(0);
    }
    expectError(await call("POST", "/admin/v1/runtimes", "{nope"), 400, "invalid_json");
    expectError(await call("POST", "/admin/v1/runtimes"), 400, "invalid_request");
    expect(backend.listRuntimes().map((r) => r.id)).toEqual(["local", "build-box"]);
  });

  test("a registered runtime that is not listening is down; launching on it is 503 runtime_unavailable", async () => {
    const res = await register("down-box", deadUrl, ["acme"]);
    expect(res.status).toBe(201);
    expect(res.json.runtime).toMatchObject({ id: "down-box", status: "down", lastSeenAt: null });
    const launch = await call("POST", "/api/v1/workspaces/acme/workers", { profile: "coder", runtimeId: "down-box" });
    expectError(launch, 503, "runtime_unavailable");
    expect(launch.text).not.toContain(deadUrl.replace("http://", ""));
  });

  test("launching on a runtime that may not see the workspace is 403 workspace_not_visible", async () => {
    const res = await register("other-box", deadUrl, ["other"]);
    expect(res.status).toBe(201);
    expectError(
      await call("POST", "/api/v1/workspaces/acme/workers", { profile: "coder", runtimeId: "other-box" }),
      403,
      "workspace_not_visible",
    );
    // A runtime that may not see acme is not part of its sync state.
    // biome-ignore lint/suspicious/noExplicitAny: response rows
    expect((await workspace()).sync.map((s: any) => s.runtimeId)).toEqual(["local", "build-box", "down-box"]);
  });

  test("DELETE /admin/v1/runtimes/{id} removes the runtime (200); again is 404 runtime_not_found", async () => {
    for (const id of ["down-box", "other-box"]) {
      const res = await call("DELETE", `/admin/v1/runtimes/${id}`);
      expect(res.status).toBe(200);
      expect(res.json.runtime).toMatchObject({ id, kind: "remote", endpoint: deadUrl, origin: "admin" });
      expect(res.text).not.toContain(RUNTIME_TOKEN);
      expectError(await call("DELETE", `/admin/v1/runtimes/${id}`), 404, "runtime_not_found");
    }
    expectError(await call("DELETE", "/admin/v1/runtimes/never-was"), 404, "runtime_not_found");
    expect(backend.listRuntimes().map((r) => r.id)).toEqual(["local", "build-box"]);
    // biome-ignore lint/suspicious/noExplicitAny: response rows
    expect((await workspace()).sync.map((s: any) => s.runtimeId)).toEqual(["local", "build-box"]);
  });
});

describe("workspace revisions", () => {
  const originals = new Map<string, string>();
  let fixes = 0;

  beforeAll(() => {
    for (const rel of [
      "workspace.yaml",
      "profiles/coder.yaml",
      "profiles/reviewer.yaml",
      "profiles/researcher.yaml",
      "workflows/review-loop.yaml",
      "prompts/coder-system.md",
      "prompts/reviewer-system.md",
    ]) {
      originals.set(rel, read(rel));
    }
  });

  const restore = (rel: string) => {
    if (existsSync(file(rel))) rmSync(file(rel), { recursive: true });
    write(rel, originals.get(rel)!);
  };

  test("rebuilding unchanged sources keeps revision 1, the same bundle and the same updatedAt", async () => {
    const before = await workspace();
    const digest = current().digest;
    await rebuild();
    const after = await workspace();
    expect(after.revision).toBe(1);
    expect(after.updatedAt).toBe(before.updatedAt);
    expect(after.source).toEqual({ state: "ok" });
    expect(current().digest).toBe(digest);
    expect(embeddedDigests()).toEqual([digest]);
  });

  test("`bundlesync bundle build DIR` gives the same id and digest as the backend's current bundle", () => {
    const cur = current();
    const run = Bun.spawnSync([...CLI, "bundle", "build", wsDir], { stdout: "pipe", stderr: "pipe" });
    expect({ exitCode: run.exitCode, stderr: run.stderr.toString() }).toEqual({ exitCode: 0, stderr: "" });
    const built = JSON.parse(run.stdout.toString());
    expect({ id: built.metadata.id, digest: built.metadata.digest }).toEqual({ id: cur.bundleId, digest: cur.digest });
    const inProcess = buildWorkspace(wsDir);
    expect({ id: inProcess.bundle.metadata.id, digest: inProcess.digest }).toEqual({
      id: cur.bundleId,
      digest: cur.digest,
    });
  });

  test("editing a file gives revision 2 and a new bundle, synced to every visible runtime", async () => {
    const before = await workspace();
    const oldDigest = current().digest;
    write("profiles/coder.yaml", originals.get("profiles/coder.yaml")!.replace("Fixes bugs", "Fixes bugs quickly"));
    await rebuild();
    const after = await workspace();
    expect(after.revision).toBe(2);
    expect(after.source).toEqual({ state: "ok" });
    expect(Date.parse(after.updatedAt)).toBeGreaterThanOrEqual(Date.parse(before.updatedAt));
    // biome-ignore lint/suspicious/noExplicitAny: response rows
    expect(after.profiles.find((p: any) => p.name === "coder").description).toBe(
      "Fixes bugs quickly and writes code in the Acme repository.",
    );
    const cur = current();
    expect(cur.revision).toBe(2);
    expect(cur.digest).not.toBe(oldDigest);
    expect(JSON.parse(cur.bytes).metadata.revision).toBe(2);
    expect(embeddedDigests()).toEqual([cur.digest, oldDigest]);
    expect(remoteRuntime.hasBundle(cur.digest)).toBe(true);
    // biome-ignore lint/suspicious/noExplicitAny: response rows
    expect(after.sync.map((s: any) => [s.runtimeId, s.state, s.revision])).toEqual([
      ["local", "synced", 2],
      ["build-box", "synced", 2],
    ]);
    expect(buildWorkspace(wsDir).digest).toBe(cur.digest);
  });

  test("a launch after an edit runs on the new revision", async () => {
    const res = await call("POST", "/api/v1/workspaces/acme/workers", { profile: "coder" });
    expect(res.status).toBe(201);
    expect(res.json.worker).toMatchObject({ revision: 2, mode: "bundle" });
    expect(backend.embedded!.getWorker(res.json.worker.id).configBundle?.digest).toBe(current().digest);
  });

  interface BrokenCase {
    name: string;
    file: string;
    break: () => void;
    code: string;
    badValue?: string;
  }

  const broken: BrokenCase[] = [
    {
      name: "workspace.yaml that is not valid YAML",
      file: "workspace.yaml",
      break: () => write("workspace.yaml", "id: acme\nname: [unclosed-bracket-value\n"),
      code: "invalid_source",
      badValue: "unclosed-bracket-value",
    },
    {
      name: "workspace.yaml that cannot be read",
      file: "workspace.yaml",
      break: () => {
        rmSync(file("workspace.yaml"));
        mkdirSync(file("workspace.yaml"));
      },
      code: "invalid_source",
    },
    {
      name: "a profile file that is not valid YAML",
      file: "profiles/coder.yaml",
      break: () => write("profiles/coder.yaml", "name: coder\nprompts: [coder-system\n  - broken-yaml-token: {\n"),
      code: "invalid_source",
      badValue: "broken-yaml-token",
    },
    {
      name: "a workflow file that is not valid YAML",
      file: "workflows/review-loop.yaml",
      break: () => write("workflows/review-loop.yaml", "name: review-loop\nsteps: [ {name: odd-step-value\n"),
      code: "invalid_source",
      badValue: "odd-step-value",
    },
    {
      name: "a profile naming a prompt that does not exist",
      file: "profiles/coder.yaml",
      break: () =>
        write(
          "profiles/coder.yaml",
          originals.get("profiles/coder.yaml")!.replace("prompts: [coder-system]", "prompts: [ghost-prompt-name]"),
        ),
      code: "invalid_bundle",
      badValue: "ghost-prompt-name",
    },
    {
      name: "a host path in a profile field",
      file: "profiles/reviewer.yaml",
      break: () =>
        write(
          "profiles/reviewer.yaml",
          originals.get("profiles/reviewer.yaml")!.replace("model: fast", `model: ${HOST_PATH}`),
        ),
      code: "forbidden_content",
      badValue: HOST_PATH,
    },
    {
      name: "an AWS access key id in prompt text",
      file: "prompts/coder-system.md",
      break: () =>
        write("prompts/coder-system.md", `${originals.get("prompts/coder-system.md")!}\nDeploy with ${AWS_KEY}.\n`),
      code: "forbidden_content",
      badValue: AWS_KEY,
    },
  ];

  for (const c of broken) {
    test(`${c.name}: source error naming ${c.file}, last good revision kept; fixing it recovers`, async () => {
      const before = await workspace();
      const goodDigest = current().digest;
      const runtimeDigests = embeddedDigests();

      c.break();
      await rebuild();

      const res = await call("GET", "/api/v1/workspaces/acme");
      expect(res.status).toBe(200);
      const ws = res.json.workspace;
      expect(ws.source).toEqual({ state: "error", error: { code: c.code, message: expect.any(String) } });
      const message: string = ws.source.error.message;
      expect(message.startsWith(`${c.file}:`)).toBe(true);
      expect(message).not.toContain(wsDir);
      expect(message).not.toContain(root);
      if (c.badValue !== undefined) {
        expect(message).not.toContain(c.badValue);
        expect(res.text).not.toContain(c.badValue);
      }
      // The last good revision stays: in the view, as the current bundle, and on the runtimes.
      expect({ revision: ws.revision, updatedAt: ws.updatedAt, name: ws.name, profiles: ws.profiles }).toEqual({
        revision: before.revision,
        updatedAt: before.updatedAt,
        name: before.name,
        profiles: before.profiles,
      });
      // biome-ignore lint/suspicious/noExplicitAny: response rows
      expect(ws.sync.map((s: any) => [s.runtimeId, s.state, s.revision])).toEqual([
        ["local", "synced", before.revision],
        ["build-box", "synced", before.revision],
      ]);
      expect(current().digest).toBe(goodDigest);
      expect(embeddedDigests()).toEqual(runtimeDigests);
      const listed = (await call("GET", "/api/v1/workspaces")).json.workspaces[0];
      expect(listed.source).toEqual(ws.source);

      // Launches keep working on the last good revision.
      const launch = await call("POST", "/api/v1/workspaces/acme/workers", { profile: "reviewer" });
      expect(launch.status).toBe(201);
      expect(launch.json.worker.revision).toBe(before.revision);

      // Fix: the broken file back to good content, plus a real change, gives the next revision.
      restore(c.file);
      fixes++;
      write(
        "profiles/researcher.yaml",
        originals.get("profiles/researcher.yaml")!.replace("Browses documentation", `Browses documentation (${fixes})`),
      );
      await rebuild();
      const fixed = await workspace();
      expect(fixed.source).toEqual({ state: "ok" });
      expect(fixed.revision).toBe(before.revision + 1);
      expect(current().digest).not.toBe(goodDigest);
      expect(embeddedDigests()[0]).toBe(current().digest);
      // biome-ignore lint/suspicious/noExplicitAny: response rows
      expect(fixed.sync.map((s: any) => [s.runtimeId, s.state, s.revision])).toEqual([
        ["local", "synced", fixed.revision],
        ["build-box", "synced", fixed.revision],
      ]);
    });
  }

  test("restoring exactly the last good content recovers without a new revision", async () => {
    const before = await workspace();
    write("profiles/coder.yaml", "name: [broken\n");
    await rebuild();
    expect((await workspace()).source.state).toBe("error");
    write("profiles/coder.yaml", originals.get("profiles/coder.yaml")!);
    await rebuild();
    const after = await workspace();
    expect(after.source).toEqual({ state: "ok" });
    expect({ revision: after.revision, updatedAt: after.updatedAt }).toEqual({
      revision: before.revision,
      updatedAt: before.updatedAt,
    });
  });

  test("the watcher picks up an edit without an explicit rebuild", async () => {
    const before = await workspace();
    write(
      "prompts/reviewer-system.md",
      `${originals.get("prompts/reviewer-system.md")!}\nPrefer small review comments.\n`,
    );
    const deadline = Date.now() + 15_000;
    let ws = before;
    while (ws.revision === before.revision && Date.now() < deadline) {
      await Bun.sleep(50);
      ws = await workspace();
    }
    expect(ws.revision).toBe(before.revision + 1);
    while (Date.now() < deadline) {
      // biome-ignore lint/suspicious/noExplicitAny: response rows
      if (ws.sync.every((s: any) => s.state === "synced" && s.revision === ws.revision)) break;
      await Bun.sleep(50);
      ws = await workspace();
    }
    // biome-ignore lint/suspicious/noExplicitAny: response rows
    expect(ws.sync.map((s: any) => [s.runtimeId, s.state, s.revision])).toEqual([
      ["local", "synced", ws.revision],
      ["build-box", "synced", ws.revision],
    ]);
    expect(embeddedDigests()[0]).toBe(current().digest);
    expect(buildWorkspace(wsDir).digest).toBe(current().digest);
  });
});

describe("what the browser API never shows", () => {
  test("no /api/v1 response contained a source path, the data dir, an endpoint, a token or a bundle digest", () => {
    expect(apiBodies.length).toBeGreaterThan(40);
    const digests = new Set<string>();
    for (const b of backend.embedded!.listBundles()) digests.add(b.digest);
    expect(digests.size).toBeGreaterThan(5);
    const leaks: { path: string; found: string }[] = [];
    const forbidden = [wsDir, dataDir, root, policyDir, REMOTE_URL, RUNTIME_TOKEN, API_TOKEN, "sha256:", ...digests];
    for (const { path, text } of apiBodies) {
      for (const f of forbidden) if (text.includes(f)) leaks.push({ path, found: f });
      for (const d of digests) if (text.includes(d.slice("sha256:".length))) leaks.push({ path, found: d });
    }
    expect(leaks).toEqual([]);
  });

  test("no log line carried a bad value, a path, a secret or a token", () => {
    expect(logLines.length).toBeGreaterThan(0);
    const secret = readFileSync(join(policyDir, "secrets", "anthropic-api-key"), "utf8").trim();
    const forbidden = [AWS_KEY, HOST_PATH, wsDir, dataDir, RUNTIME_TOKEN, API_TOKEN, REMOTE_URL, secret];
    // biome-ignore lint/suspicious/noExplicitAny: raw lines
    const leaks = logLines.flatMap((line: any) => forbidden.filter((f) => line.includes(f)).map((f) => ({ line, f })));
    expect(leaks).toEqual([]);
  });
});
