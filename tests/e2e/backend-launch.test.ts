/**
 * Launch through the backend (contract §7 POST /api/v1/workspaces/{id}/workers): on the
 * embedded runtime and on remote runtimes, bundle and builtin mode, every typed failure,
 * and launch-time repair of a runtime that lost its bundle.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  type BackendProc,
  bundlesOn,
  copyHostPolicy,
  copyWorkspace,
  E2E_TIMEOUT_MS,
  freePort,
  type RuntimeProc,
  runtimeEntry,
  startBackend,
  startRuntime,
  waitForRevision,
  waitForSync,
  writeBackendConfig,
  writeTo,
} from "./backend-harness.ts";
import { cleanup, type HttpResult, tempDir, waitFor } from "./harness.ts";

const root = tempDir("bundlesync-backend-launch-");
const WS = copyWorkspace(root);
const POLICY = copyHostPolicy(join(root, "policy"));

/** Grants the mount and network the example profiles need, but no shell and no secrets. */
const STRICT_POLICY = (() => {
  const dir = join(root, "strict");
  mkdirSync(join(dir, "repo"), { recursive: true });
  return writeTo(
    dir,
    "strict-policy.yaml",
    [
      "requireBundle: false",
      "mounts:",
      "  repo: { path: repo, readOnly: true }",
      "network: [anthropic, github]",
      "shell: false",
      "git: true",
      "capabilities: []",
      "plugins: { allowAll: true }",
      "",
    ].join("\n"),
  );
})();

let remote: RuntimeProc;
let strict: RuntimeProc;
let hidden: RuntimeProc;
let backend: BackendProc;

afterAll(cleanup);

function launch(workspaceId: string, body: unknown): Promise<HttpResult> {
  return backend.api.request("POST", `/api/v1/workspaces/${workspaceId}/workers`, body);
}

/** The backend envelope with this code and status, and a message of its own. */
function expectError(r: HttpResult, status: number, code: string) {
  expect({ status: r.status, code: r.json?.error?.code }).toEqual({ status, code });
  expect(typeof r.json.error.message).toBe("string");
  expect(r.json.error.message.length).toBeGreaterThan(0);
  expect(typeof r.json.error.details).toBe("object");
}

async function runtimeWorkers(rt: RuntimeProc): Promise<{ id: string; mode: string; status: string }[]> {
  return (await rt.api.request("GET", "/v1/workers")).json.workers;
}

describe("backend launch", () => {
  beforeAll(async () => {
    [remote, strict, hidden] = await Promise.all([
      startRuntime({ token: "remote-runtime-token-81ac", policy: POLICY }),
      startRuntime({ token: "strict-runtime-token-2f9d", policy: STRICT_POLICY }),
      startRuntime({ token: "hidden-runtime-token-c06e", policy: POLICY }),
    ]);
    const ghostPort = await freePort(); // nothing listens here: a visible runtime that is down
    const config = writeBackendConfig(join(root, "config"), {
      workspaces: [WS],
      runtimes: [
        runtimeEntry("remote", remote, ["acme"]),
        runtimeEntry("strict", strict, ["acme"]),
        runtimeEntry("hidden", hidden, ["other"]),
        { id: "ghost", endpoint: `http://127.0.0.1:${ghostPort}`, workspaces: ["acme"] },
      ],
    });
    backend = await startBackend({ config, data: join(root, "backend-data"), hostPolicy: POLICY });
    await Promise.all([waitForRevision(remote, 1), waitForRevision(strict, 1)]);
    await waitForSync(backend, "remote", (s) => s.state === "synced", "remote synced");
  }, E2E_TIMEOUT_MS);

  test(
    "a named profile launches in bundle mode on the embedded runtime",
    async () => {
      const r = await launch("acme", { profile: "coder", runtimeId: "local", intent: { goal: "Fix the flaky test" } });
      expect(r.status).toBe(201);
      expect(r.json.worker).toMatchObject({
        runtimeId: "local",
        workspaceId: "acme",
        profile: "coder",
        revision: 1,
        mode: "bundle",
        status: "ready",
      });
      expect(r.json.worker.id).toEqual(expect.any(String));
      const list = await backend.api.request("GET", "/api/v1/workers");
      expect(list.json.workers).toContainEqual(r.json.worker);
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a named profile launches in bundle mode on an explicitly chosen remote runtime",
    async () => {
      const r = await launch("acme", { profile: "coder", runtimeId: "remote" });
      expect(r.status).toBe(201);
      expect(r.json.worker).toMatchObject({ runtimeId: "remote", profile: "coder", revision: 1, mode: "bundle" });
      const onRuntime = await remote.api.request("GET", `/v1/workers/${r.json.worker.id}`);
      expect(onRuntime.status).toBe(200);
      expect(onRuntime.json.worker).toMatchObject({ id: r.json.worker.id, mode: "bundle", status: "ready" });
      expect(onRuntime.json.worker.configBundle.id).toBe("acme.default");
      expect((await runtimeWorkers(remote)).map((w) => w.id)).toContain(r.json.worker.id);
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "without a runtimeId the backend picks a visible, up runtime whose policy fits the profile",
    async () => {
      const r = await launch("acme", { profile: "coder" });
      expect(r.status).toBe(201);
      expect(["local", "remote"]).toContain(r.json.worker.runtimeId);
      expect(r.json.worker.mode).toBe("bundle");
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a builtin selector launches in builtin mode",
    async () => {
      const r = await launch("acme", { profile: { kind: "builtin", name: "companion" }, runtimeId: "remote" });
      expect(r.status).toBe(201);
      expect(r.json.worker).toMatchObject({
        runtimeId: "remote",
        profile: "companion",
        mode: "builtin",
        revision: null,
      });
      const onRuntime = await remote.api.request("GET", `/v1/workers/${r.json.worker.id}`);
      expect(onRuntime.json.worker.mode).toBe("builtin");
      expect(onRuntime.json.worker.configBundle).toBeUndefined();

      const local = await launch("acme", { profile: { kind: "builtin", name: "companion" }, runtimeId: "local" });
      expect(local.status).toBe(201);
      expect(local.json.worker).toMatchObject({ runtimeId: "local", mode: "builtin" });
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a runtime that may not see the workspace is 403 workspace_not_visible",
    async () => {
      expectError(await launch("acme", { profile: "coder", runtimeId: "hidden" }), 403, "workspace_not_visible");
      expect(await runtimeWorkers(hidden)).toEqual([]);
      expect(await bundlesOn(hidden)).toEqual([]);
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a visible runtime that is down is 503 runtime_unavailable",
    async () => {
      expectError(await launch("acme", { profile: "coder", runtimeId: "ghost" }), 503, "runtime_unavailable");
      const rts = await backend.api.request("GET", "/api/v1/runtimes");
      expect(rts.json.runtimes.find((r: { id: string }) => r.id === "ghost").status).toBe("down");
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "an unknown workspace is 404 workspace_not_found, an unknown runtime 404 runtime_not_found",
    async () => {
      expectError(await launch("nope", { profile: "coder" }), 404, "workspace_not_found");
      expectError(await launch("nope", { profile: "coder", runtimeId: "remote" }), 404, "workspace_not_found");
      expectError(await launch("acme", { profile: "coder", runtimeId: "nope" }), 404, "runtime_not_found");
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a policy denial from the runtime keeps the runtime's code in the backend envelope",
    async () => {
      // no shell on the strict host
      const shell = await launch("acme", { profile: "coder", runtimeId: "strict" });
      expectError(shell, 403, "grant_denied");
      // no secrets on the strict host: the reviewer's model credential is unavailable
      expectError(await launch("acme", { profile: "reviewer", runtimeId: "strict" }), 422, "secret_unavailable");
      // a required capability no host offers
      const gpuErrors = [];
      for (const runtimeId of ["remote", "local"]) {
        const gpu = await launch("acme", { profile: "coder", runtimeId, requiredCapabilities: ["gpu"] });
        expectError(gpu, 403, "capability_denied");
        gpuErrors.push(gpu.json.error);
      }
      // one contract for embedded and remote runtimes: the same envelope, message and details
      expect(gpuErrors[0]).toEqual(gpuErrors[1]);
      expect(await runtimeWorkers(strict)).toEqual([]);
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "an unknown profile name is 422 invalid_profile on embedded and remote runtimes alike",
    async () => {
      const errors = [];
      for (const runtimeId of ["local", "remote", undefined]) {
        const r = await launch("acme", { profile: "no-such-profile", ...(runtimeId && { runtimeId }) });
        expectError(r, 422, "invalid_profile");
        errors.push(r.json.error);
      }
      expect(errors[1]).toEqual(errors[0]);
      expect(errors[2]).toEqual(errors[0]);
      expectError(
        await launch("acme", { profile: { kind: "builtin", name: "no-such-builtin" } }),
        422,
        "invalid_profile",
      );
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "failed launches leave no Worker behind",
    async () => {
      const list = await backend.api.request("GET", "/api/v1/workers");
      const byRuntime = new Map<string, number>();
      for (const w of list.json.workers as { runtimeId: string }[])
        byRuntime.set(w.runtimeId, (byRuntime.get(w.runtimeId) ?? 0) + 1);
      expect(byRuntime.get("strict")).toBeUndefined();
      expect(byRuntime.get("hidden")).toBeUndefined();
      expect(byRuntime.get("ghost")).toBeUndefined();
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a runtime that lost the bundle is repaired at launch time",
    async () => {
      // Free the bundle (the runtime refuses to delete one a live Worker uses), then delete it.
      for (const w of await runtimeWorkers(remote)) {
        if (w.status !== "stopped")
          expect((await remote.api.request("POST", `/v1/workers/${w.id}/stop`)).status).toBe(200);
      }
      const [held] = await bundlesOn(remote, "acme");
      expect(held).toBeDefined();
      const del = await remote.api.request("DELETE", `/v1/config-bundles/${held!.digest}`);
      expect(del.status).toBe(200);
      expect(await bundlesOn(remote, "acme")).toEqual([]);

      const r = await launch("acme", { profile: "coder", runtimeId: "remote" });
      expect(r.status).toBe(201);
      expect(r.json.worker).toMatchObject({ runtimeId: "remote", mode: "bundle", revision: 1 });
      const back = await bundlesOn(remote, "acme");
      expect(back.map((b) => b.digest)).toEqual([held!.digest]);
      const onRuntime = await remote.api.request("GET", `/v1/workers/${r.json.worker.id}`);
      expect(onRuntime.json.worker.configBundle).toEqual({ id: "acme.default", digest: held!.digest });
      await waitFor(
        () => backend.server.logs().some((l) => l.event === "sync_repaired_at_launch" && l.runtimeId === "remote"),
        "the repair log line",
      );
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a runtime that just went away is 503 runtime_unavailable, before and after the backend notices",
    async () => {
      expect(await strict.server.stop()).toBe(0);
      // Whether or not a health check has run yet, the launch fails the same typed way.
      expectError(await launch("acme", { profile: "coder", runtimeId: "strict" }), 503, "runtime_unavailable");
      await waitFor(
        async () =>
          (await backend.api.request("GET", "/api/v1/runtimes")).json.runtimes.find(
            (r: { id: string }) => r.id === "strict",
          ).status === "down",
        "strict shows down",
      );
      expectError(await launch("acme", { profile: "coder", runtimeId: "strict" }), 503, "runtime_unavailable");
    },
    E2E_TIMEOUT_MS,
  );
});
