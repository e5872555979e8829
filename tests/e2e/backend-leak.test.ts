/**
 * Backend leak scan (contract §1 and §7: the browser API never shows a runtime endpoint,
 * token, data path, source path or bundle digest; operator responses may show endpoints
 * but never a token; logs carry none of them). Every /api/v1 route is exercised on its
 * success and error paths; sentinels are distinctive strings checked in every body,
 * header and backend log line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type BackendProc,
  bundlesOn,
  copyWorkspace,
  E2E_TIMEOUT_MS,
  editLine,
  freePort,
  type RuntimeProc,
  runtimeEntry,
  runtimeStatus,
  startBackend,
  startRuntime,
  syncedAt,
  waitForRevision,
  waitForSync,
  workspaceView,
  writeBackendConfig,
  writeTo,
} from "./backend-harness.ts";
import { cleanup, client, type HttpResult, tempDir, waitFor } from "./harness.ts";

const RT_TOKEN = "SENTINEL-RT-TOKEN-3a9c1e";
const HIDDEN_TOKEN = "SENTINEL-HIDDEN-TOKEN-7d20";
const REGISTERED_TOKEN = "SENTINEL-REG-TOKEN-b64f";
const API_TOKEN = "SENTINEL-API-TOKEN-51e8";
const WRONG_API_TOKEN = "SENTINEL-WRONG-API-TOKEN-0f7b";
const SECRET_ENV_NAME = "BS_E2E_LEAK_ENV_SECRET";
const SECRET_ENV_VALUE = "SENTINEL-ENV-SECRET-VALUE-e19d";
const SECRET_FILE_VALUE = "SENTINEL-FILE-SECRET-VALUE-8c4a";

const root = tempDir("bundlesync-backend-leak-");
const SOURCE_PARENT = join(root, "SENTINEL-WS-SOURCE-62f1");
const WS = copyWorkspace(SOURCE_PARENT);
const CODER = join(WS, "profiles", "coder.yaml");
const BACKEND_DATA = join(root, "SENTINEL-BACKEND-DATA-9e03");
const SECRET_FILE = writeTo(join(root, "SENTINEL-SECRET-DIR-44ad"), "github-token", `${SECRET_FILE_VALUE}\n`);
const MOUNT_PATH = join(root, "SENTINEL-MOUNT-PATH-d7e5");
mkdirSync(MOUNT_PATH, { recursive: true });

// A profile that needs the github-token secret, which only the embedded runtime's host has.
writeTo(join(WS, "profiles"), "publisher.yaml", "name: publisher\nextends: base\nrequires: [github-token]\n");

/** Everything the example profiles need, with sentinel secret values and mount path. */
const FULL_POLICY = writeTo(
  join(root, "full"),
  "policy.yaml",
  [
    "secrets:",
    `  anthropic-api-key: { env: ${SECRET_ENV_NAME} }`,
    `  github-token: { file: ${JSON.stringify(SECRET_FILE)} }`,
    "mounts:",
    `  repo: { path: ${JSON.stringify(MOUNT_PATH)}, readOnly: false }`,
    "network: [anthropic, github]",
    "shell: true",
    "git: true",
    "capabilities: [shell, git, browser]",
    "plugins: { allowAll: true }",
    "",
  ].join("\n"),
);
/** The remote host: the same sentinels, but no shell and no github-token. */
const REMOTE_POLICY = writeTo(
  join(root, "remote"),
  "policy.yaml",
  [
    "secrets:",
    `  anthropic-api-key: { env: ${SECRET_ENV_NAME} }`,
    `  file-only: { file: ${JSON.stringify(SECRET_FILE)} }`,
    "mounts:",
    `  repo: { path: ${JSON.stringify(MOUNT_PATH)}, readOnly: false }`,
    "network: [anthropic, github]",
    "shell: false",
    "git: true",
    "capabilities: [git]",
    "plugins: { allowAll: true }",
    "",
  ].join("\n"),
);

const SECRET_ENV = { [SECRET_ENV_NAME]: SECRET_ENV_VALUE };

let remote: RuntimeProc;
let hidden: RuntimeProc;
let registered: RuntimeProc;
let backend: BackendProc;
let ghostPort: number;

/** Filled in once the processes run: endpoints and bundle digests are only known then. */
const sentinels = new Set<string>([
  RT_TOKEN,
  HIDDEN_TOKEN,
  REGISTERED_TOKEN,
  API_TOKEN,
  WRONG_API_TOKEN,
  SECRET_ENV_VALUE,
  SECRET_FILE_VALUE,
  root,
  WS,
  SOURCE_PARENT,
  BACKEND_DATA,
  SECRET_FILE,
  MOUNT_PATH,
  "SENTINEL-WS-SOURCE",
  "SENTINEL-BACKEND-DATA",
  "SENTINEL-SECRET-DIR",
  "SENTINEL-MOUNT-PATH",
  "SENTINEL-ENV-SECRET",
  "SENTINEL-FILE-SECRET",
]);
/** Sentinels that the operator API may show (endpoints), kept apart so admin checks can skip them. */
const endpoints = new Set<string>();

function addDigest(digest: string) {
  const hex = digest.replace(/^sha256:/, "");
  sentinels.add(digest);
  sentinels.add(hex);
  sentinels.add(hex.slice(0, 12));
}

async function collectDigests() {
  for (const rt of [remote, registered]) {
    if (!rt?.server.alive) continue;
    for (const b of await bundlesOn(rt)) addDigest(b.digest);
  }
}

const seen: { label: string; admin: boolean; text: string }[] = [];

function record(label: string, r: HttpResult, admin = false): HttpResult {
  const headers = [...r.headers.entries()].map(([k, v]) => `${k}: ${v}`).join("\n");
  seen.push({ label, admin, text: `${r.status}\n${headers}\n${r.text}` });
  return r;
}

function leaksIn(text: string, admin: boolean): string[] {
  const found = [...sentinels].filter((s) => text.includes(s));
  if (!admin) found.push(...[...endpoints].filter((s) => text.includes(s)));
  return found;
}

async function api(method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  return record(`${method} ${path}`, await backend.api.request(method, path, body, headers));
}

async function admin(method: string, path: string, body?: unknown) {
  return record(`${method} ${path}`, await backend.api.request(method, path, body), true);
}

async function launch(body: unknown, workspaceId = "acme") {
  return api("POST", `/api/v1/workspaces/${workspaceId}/workers`, body);
}

function expectCode(r: HttpResult, status: number, code: string) {
  expect({ status: r.status, code: r.json?.error?.code }).toEqual({ status, code });
}

afterAll(cleanup);

describe("backend leak scan", () => {
  beforeAll(async () => {
    [remote, hidden, registered] = await Promise.all([
      startRuntime({ token: RT_TOKEN, policy: REMOTE_POLICY, env: SECRET_ENV }),
      startRuntime({ token: HIDDEN_TOKEN, policy: FULL_POLICY, env: SECRET_ENV }),
      startRuntime({ token: REGISTERED_TOKEN, policy: FULL_POLICY, env: SECRET_ENV }),
    ]);
    ghostPort = await freePort();
    for (const port of [remote.port, hidden.port, registered.port, ghostPort]) {
      endpoints.add(`127.0.0.1:${port}`);
      endpoints.add(`http://127.0.0.1:${port}`);
    }
    const config = writeBackendConfig(join(root, "SENTINEL-CONFIG-DIR-a1b2"), {
      workspaces: [WS],
      runtimes: [
        runtimeEntry("remote", remote, ["acme"], "Remote"),
        runtimeEntry("hidden", hidden, ["other"]),
        { id: "ghost", endpoint: `http://127.0.0.1:${ghostPort}`, tokenFile: hidden.tokenFile, workspaces: ["acme"] },
      ],
    });
    sentinels.add(config);
    sentinels.add("SENTINEL-CONFIG-DIR");
    for (const rt of [remote, hidden, registered]) {
      sentinels.add(rt.data);
      sentinels.add(rt.tokenFile);
    }
    backend = await startBackend({
      config,
      data: BACKEND_DATA,
      hostPolicy: FULL_POLICY,
      apiToken: API_TOKEN,
      env: SECRET_ENV,
    });
    await waitForRevision(remote, 1);
    await waitForSync(backend, "remote", syncedAt(1), "remote synced");
  }, E2E_TIMEOUT_MS);

  test(
    "no /api/v1 response, on success or error paths, carries a sentinel",
    async () => {
      // a second revision, so there are several digests to look for
      editLine(CODER, "description:", "description: Fixes bugs (leak scan edit).");
      await waitForRevision(remote, 2);
      await waitForSync(backend, "remote", syncedAt(2), "remote synced 2");
      await collectDigests();
      expect([...sentinels].filter((s) => s.startsWith("sha256:")).length).toBe(2);

      // reads
      expect((await api("GET", "/api/v1/workspaces")).status).toBe(200);
      expect((await api("GET", "/api/v1/workspaces/acme")).status).toBe(200);
      expect((await api("GET", "/api/v1/runtimes")).status).toBe(200);
      expectCode(await api("GET", "/api/v1/workspaces/nope"), 404, "workspace_not_found");

      // launches that succeed: embedded, remote (bundle and builtin), picked by the backend
      const ok = [
        await launch({ profile: "coder", runtimeId: "local", intent: { goal: "Fix the flaky test" } }),
        await launch({ profile: "reviewer", runtimeId: "remote" }),
        await launch({ profile: { kind: "builtin", name: "companion" }, runtimeId: "remote" }),
        await launch({ profile: "publisher" }),
      ];
      for (const r of ok) expect(r.status).toBe(201);
      expect(ok[1]!.json.worker.mode).toBe("bundle");
      expect(ok[2]!.json.worker.mode).toBe("builtin");
      expect(ok[3]!.json.worker.runtimeId).toBe("local");
      expect((await api("GET", "/api/v1/workers")).json.workers.length).toBe(4);

      // launches that fail, each with its own code
      expectCode(await launch({ profile: "coder", runtimeId: "hidden" }), 403, "workspace_not_visible");
      expectCode(await launch({ profile: "coder", runtimeId: "ghost" }), 503, "runtime_unavailable");
      expectCode(await launch({ profile: "coder" }, "nope"), 404, "workspace_not_found");
      expectCode(await launch({ profile: "coder", runtimeId: "nope" }), 404, "runtime_not_found");
      expectCode(await launch({ profile: "coder", runtimeId: "remote" }), 403, "grant_denied");
      expectCode(await launch({ profile: "publisher", runtimeId: "remote" }), 422, "secret_unavailable");
      expectCode(
        await launch({ profile: "coder", runtimeId: "local", requiredCapabilities: ["gpu"] }),
        403,
        "capability_denied",
      );
      expectCode(await launch({ profile: "researcher", runtimeId: "remote" }), 403, "capability_denied");
      expectCode(await launch({ profile: "no-such-profile", runtimeId: "remote" }), 422, "invalid_profile");
      expectCode(await launch({ profile: "no-such-profile", runtimeId: "local" }), 422, "invalid_profile");
      expectCode(await launch({ profile: { kind: "builtin", name: "no-such-builtin" } }), 422, "invalid_profile");
      expectCode(await launch({ profile: 42 }), 400, "invalid_request");
      expectCode(await launch({ profile: "coder", runtimeId: RT_TOKEN }), 404, "runtime_not_found");
      expectCode(await launch("{not json"), 400, "invalid_json");
      const media = await api("POST", "/api/v1/workspaces/acme/workers", "profile=coder", {
        "content-type": "text/plain",
      });
      expect(media.status).toBe(415);

      // launch-time repair: the remote lost the bundle
      for (const w of (await remote.api.request("GET", "/v1/workers")).json.workers as { id: string }[]) {
        await remote.api.request("POST", `/v1/workers/${w.id}/stop`);
      }
      for (const b of await bundlesOn(remote)) {
        expect((await remote.api.request("DELETE", `/v1/config-bundles/${b.digest}`)).status).toBe(200);
      }
      expect((await launch({ profile: "reviewer", runtimeId: "remote" })).status).toBe(201);
      expect((await bundlesOn(remote)).length).toBe(1);

      // resync
      expect((await api("POST", "/api/v1/workspaces/acme/resync")).status).toBe(202);
      expectCode(await api("POST", "/api/v1/workspaces/nope/resync"), 404, "workspace_not_found");

      // envelopes: unknown route, wrong method, no/wrong token
      expectCode(await api("GET", "/api/v1/nope"), 404, "not_found");
      expectCode(await api("GET", "/api/v2/workspaces"), 404, "not_found");
      expectCode(await api("DELETE", "/api/v1/workspaces"), 405, "method_not_allowed");
      expectCode(await api("PUT", "/api/v1/runtimes"), 405, "method_not_allowed");
      expectCode(await api("GET", "/api/v1/workspaces/acme/workers"), 405, "method_not_allowed");
      const anon = client(backend.server.url);
      expectCode(record("anon", await anon.request("GET", "/api/v1/workspaces")), 401, "unauthorized");
      expectCode(
        record(
          "wrong token",
          await anon.request("GET", "/api/v1/runtimes", undefined, { authorization: `Bearer ${WRONG_API_TOKEN}` }),
        ),
        401,
        "unauthorized",
      );
      expectCode(
        record("anon launch", await anon.request("POST", "/api/v1/workspaces/acme/workers", { profile: "coder" })),
        401,
        "unauthorized",
      );

      // a broken source: the error names the file, never the source path
      const goodText = readFileSync(CODER, "utf8");
      writeFileSync(CODER, "name: coder\ndescription: [unclosed\n");
      await waitFor(async () => (await workspaceView(backend)).source.state === "error", "source error");
      const broken = await api("GET", "/api/v1/workspaces/acme");
      expect(broken.json.workspace.source.error.message).toContain("profiles/coder.yaml");
      await api("GET", "/api/v1/workspaces");
      writeFileSync(CODER, goodText);
      await waitFor(async () => (await workspaceView(backend)).source.state === "ok", "source ok");

      // a runtime that went down: its sync entry carries an error, the runtime list shows down
      expect(await remote.server.stop()).toBe(0);
      await waitFor(async () => (await runtimeStatus(backend, "remote")) === "down", "remote down");
      expectCode(await launch({ profile: "reviewer", runtimeId: "remote" }), 503, "runtime_unavailable");
      editLine(CODER, "description:", "description: Fixes bugs (while remote is down).");
      await waitForSync(backend, "remote", (s) => s.state === "pending" && s.error !== undefined, "pending with error");
      await api("GET", "/api/v1/workspaces/acme");
      await api("GET", "/api/v1/runtimes");
      await api("GET", "/api/v1/workers");

      for (const { label, admin: isAdmin, text } of seen) {
        expect({ label, leaked: leaksIn(text, isAdmin) }).toEqual({ label, leaked: [] });
      }
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "/admin/v1 may show endpoints but never a token",
    async () => {
      const list = await admin("GET", "/admin/v1/runtimes");
      expect(list.status).toBe(200);
      expect(list.json.runtimes.find((r: { id: string }) => r.id === "remote").endpoint).toBe(remote.endpoint);

      const reg = await admin("POST", "/admin/v1/runtimes", {
        id: "registered",
        endpoint: registered.endpoint,
        token: REGISTERED_TOKEN,
        workspaces: ["acme"],
      });
      expect(reg.status).toBe(201);
      await waitForRevision(registered, 3);
      await collectDigests(); // revision 3 was built while the remote was down
      expectCode(
        await admin("POST", "/admin/v1/runtimes", {
          id: "registered",
          endpoint: registered.endpoint,
          token: REGISTERED_TOKEN,
          workspaces: ["acme"],
        }),
        409,
        "runtime_conflict",
      );
      expectCode(
        await admin("POST", "/admin/v1/runtimes", {
          id: "bad",
          endpoint: "not a url",
          token: REGISTERED_TOKEN,
          workspaces: [],
        }),
        400,
        "invalid_request",
      );
      expectCode(await admin("POST", "/admin/v1/runtimes", `{"token":"${REGISTERED_TOKEN}"`), 400, "invalid_json");
      await admin("GET", "/admin/v1/runtimes");
      expect((await admin("DELETE", "/admin/v1/runtimes/registered")).status).toBe(200);
      expectCode(await admin("DELETE", "/admin/v1/runtimes/registered"), 404, "runtime_not_found");
      expectCode(await admin("PUT", "/admin/v1/runtimes"), 405, "method_not_allowed");

      // the browser views after all that, with the newest digests known
      await api("GET", "/api/v1/workspaces/acme");
      await api("GET", "/api/v1/runtimes");

      for (const { label, admin: isAdmin, text } of seen) {
        expect({ label, leaked: leaksIn(text, isAdmin) }).toEqual({ label, leaked: [] });
      }
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "no backend log line carries a sentinel (endpoints included)",
    async () => {
      expect(await backend.server.stop()).toBe(0);
      const lines = backend.server.output().split("\n");
      expect(lines.length).toBeGreaterThan(5);
      const leaked = lines.flatMap((line) => leaksIn(line, false).map((s) => ({ s, event: line.slice(0, 120) })));
      expect(leaked).toEqual([]);
    },
    E2E_TIMEOUT_MS,
  );
});
