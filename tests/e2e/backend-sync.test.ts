/**
 * Backend sync end to end (contract §7): one backend, a runtime that may see workspace
 * `acme` and one that may not. Observed through the runtimes' own REST API and the
 * backend's browser and operator APIs. Steps share one set of processes and run in order.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type BackendProc,
  bundlesOn,
  CONVERGE_MS,
  type CountingProxy,
  copyHostPolicy,
  copyWorkspace,
  countingProxy,
  E2E_TIMEOUT_MS,
  editLine,
  type RuntimeProc,
  restartRuntime,
  runtimeEntry,
  runtimeStatus,
  startBackend,
  startRuntime,
  syncEntry,
  syncedAt,
  waitForRevision,
  waitForSync,
  workspaceView,
  writeBackendConfig,
  writeTo,
} from "./backend-harness.ts";
import { cleanup, tempDir, waitFor } from "./harness.ts";

const VISIBLE_TOKEN = "visible-runtime-token-6b1f";
const HIDDEN_TOKEN = "hidden-runtime-token-0e7a";
const ADMIN_TOKEN = "admin-registered-token-93c2";
const KEPT_TOKEN = "kept-runtime-token-4d58";
const SMALL_TOKEN = "small-runtime-token-e3b7";

/** Long enough to push revision 2 over the small runtime's bundle size limit. */
const LONG_DESCRIPTION = `Fixes bugs (edit one).${" Padding to make this bundle large.".repeat(80)}`;

const root = tempDir("bundlesync-backend-sync-");
const WS = copyWorkspace(root);
const CODER = join(WS, "profiles", "coder.yaml");
const POLICY = copyHostPolicy(join(root, "policy"));
const BACKEND_DATA = join(root, "backend-data");
/** A host that accepts bundles up to 5000 bytes: the example fits, the padded revision 2 does not. */
const SMALL_POLICY = writeTo(join(root, "small"), "policy.yaml", "limits: { maxBundleBytes: 5000 }\n");

let visible: RuntimeProc;
let hidden: RuntimeProc;
let third: RuntimeProc;
let kept: RuntimeProc;
let small: RuntimeProc;
let smallProxy: CountingProxy;
let backend: BackendProc;
let backendOpts: Parameters<typeof startBackend>[0];

afterAll(async () => {
  await smallProxy?.stop();
  await cleanup();
});

/** The runtime that may not see `acme` never holds a bundle, whatever step we are at. */
async function expectHiddenEmpty() {
  expect(await bundlesOn(hidden)).toEqual([]);
  const ws = await workspaceView(backend);
  expect(ws.sync.map((s: { runtimeId: string }) => s.runtimeId)).not.toContain("hidden");
}

describe("backend sync", () => {
  beforeAll(async () => {
    [visible, hidden, small] = await Promise.all([
      startRuntime({ token: VISIBLE_TOKEN, policy: POLICY }),
      startRuntime({ token: HIDDEN_TOKEN, policy: POLICY }),
      startRuntime({ token: SMALL_TOKEN, policy: SMALL_POLICY }),
    ]);
    smallProxy = countingProxy(small.endpoint);
    const config = writeBackendConfig(join(root, "config"), {
      workspaces: [WS],
      runtimes: [
        runtimeEntry("visible", visible, ["acme"], "Visible box"),
        runtimeEntry("hidden", hidden, ["other"], "Hidden box"),
        { id: "small", endpoint: smallProxy.endpoint, tokenFile: small.tokenFile, workspaces: ["acme"] },
      ],
    });
    backendOpts = { config, data: BACKEND_DATA, hostPolicy: POLICY };
    backend = await startBackend(backendOpts);
  }, E2E_TIMEOUT_MS);

  test(
    "on start the visible runtime holds revision 1 and the invisible one holds nothing",
    async () => {
      const b = await waitForRevision(visible, 1);
      expect(b).toMatchObject({ id: "acme.default", workspaceId: "acme", revision: 1 });
      expect(b.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      const synced = await waitForSync(backend, "visible", syncedAt(1), "synced");
      expect(synced).toMatchObject({ runtimeName: "Visible box", state: "synced", revision: 1 });
      expect(synced.lastSyncedAt).not.toBeNull();
      expect(synced.error).toBeUndefined();
      const ws = await workspaceView(backend);
      expect(ws).toMatchObject({ id: "acme", name: "Acme", revision: 1, source: { state: "ok" } });
      expect(ws.sync.map((s: { runtimeId: string }) => s.runtimeId).sort()).toEqual(["local", "small", "visible"]);
      await waitForRevision(small, 1);
      // The invisible runtime is up (the backend reached it) and still empty.
      await waitFor(async () => (await runtimeStatus(backend, "hidden")) === "up", "hidden runtime up", CONVERGE_MS);
      await expectHiddenEmpty();
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "editing a profile file produces revision 2 on the visible runtime only",
    async () => {
      editLine(CODER, "description:", `description: ${LONG_DESCRIPTION}`);
      const b = await waitForRevision(visible, 2);
      const all = await bundlesOn(visible, "acme");
      expect(all.map((x) => x.revision)).toEqual([2, 1]);
      expect(all[0]!.digest).not.toBe(all[1]!.digest);
      expect(b.digest).toBe(all[0]!.digest);
      await waitForSync(backend, "visible", syncedAt(2), "synced revision 2");
      const ws = await workspaceView(backend);
      expect(ws.revision).toBe(2);
      expect(ws.profiles).toContainEqual({ name: "coder", description: LONG_DESCRIPTION });
      await expectHiddenEmpty();
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a runtime that rejects a revision records it once as failed, is not resent to, and keeps its last good revision",
    async () => {
      const failed = await waitForSync(backend, "small", (s) => s.state === "failed", "small failed");
      expect(failed.error?.code).toBe("payload_too_large");
      expect(failed.revision).toBe(1);
      expect((await bundlesOn(small, "acme")).map((b) => b.revision)).toEqual([1]);
      // No resend loop: while the backend keeps health-checking the runtime, no further PUT goes out.
      const puts = smallProxy.count("PUT", "/v1/config-bundles/");
      const checks = smallProxy.count("GET", "/v1/runtime");
      await waitFor(() => smallProxy.count("GET", "/v1/runtime") >= checks + 10, "ten more health checks", CONVERGE_MS);
      expect(smallProxy.count("PUT", "/v1/config-bundles/")).toBe(puts);
      expect(await syncEntry(backend, "small")).toMatchObject({ state: "failed", revision: 1 });
      expect((await bundlesOn(small, "acme")).map((b) => b.revision)).toEqual([1]);
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a stopped runtime shows down and pending with an error; restarted, it converges to revision 3",
    async () => {
      expect(await visible.server.stop()).toBe(0);
      await waitFor(async () => (await runtimeStatus(backend, "visible")) === "down", "runtime down", CONVERGE_MS);
      editLine(CODER, "description:", "description: Fixes bugs (edit two).");
      await waitFor(async () => (await workspaceView(backend)).revision === 3, "workspace revision 3", CONVERGE_MS);
      const pending = await waitForSync(
        backend,
        "visible",
        (s) => s.state === "pending" && s.error !== undefined,
        "pending with an error",
      );
      expect(pending.revision).toBe(2); // still the last one it acknowledged
      expect(pending.error!.code).toBe("runtime_unavailable");
      expect(pending.error!.message.length).toBeGreaterThan(0);
      // the embedded runtime is unaffected
      await waitForSync(backend, "local", syncedAt(3), "local synced revision 3");

      visible = await restartRuntime(visible);
      await waitForRevision(visible, 3);
      await waitFor(async () => (await runtimeStatus(backend, "visible")) === "up", "runtime up", CONVERGE_MS);
      const synced = await waitForSync(backend, "visible", syncedAt(3), "synced 3");
      expect(synced.error).toBeUndefined();
      expect((await bundlesOn(visible, "acme")).map((b) => b.revision)).toEqual([3, 2, 1]);
      // a new revision that fits is sent to the runtime that rejected the previous one
      await waitForRevision(small, 3);
      await waitForSync(backend, "small", syncedAt(3), "small synced 3");
      expect((await bundlesOn(small, "acme")).map((b) => b.revision)).toEqual([3, 1]);
      await expectHiddenEmpty();
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a runtime whose data dir was wiped is repaired when it comes back",
    async () => {
      expect(await visible.server.stop()).toBe(0);
      await waitFor(async () => (await runtimeStatus(backend, "visible")) === "down", "runtime down", CONVERGE_MS);
      rmSync(visible.data, { recursive: true, force: true });
      visible = await restartRuntime(visible);
      const b = await waitForRevision(visible, 3);
      expect(b.id).toBe("acme.default");
      await waitForSync(backend, "visible", syncedAt(3), "synced 3 after wipe");
      await expectHiddenEmpty();
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "a runtime registered through the operator API is synced; a duplicate id is 409; DELETE removes it",
    async () => {
      third = await startRuntime({ token: ADMIN_TOKEN, policy: POLICY });
      const reg = await backend.api.request("POST", "/admin/v1/runtimes", {
        id: "third",
        name: "Third box",
        endpoint: third.endpoint,
        token: ADMIN_TOKEN,
        workspaces: ["acme"],
      });
      expect(reg.status).toBe(201);
      expect(reg.json.runtime).toMatchObject({ id: "third", name: "Third box", workspaces: ["acme"] });
      expect(reg.text).not.toContain(ADMIN_TOKEN);

      await waitForRevision(third, 3);
      expect((await bundlesOn(third, "acme")).map((b) => b.revision)).toEqual([3]);
      await waitForSync(backend, "third", syncedAt(3), "third synced");

      const dup = await backend.api.request("POST", "/admin/v1/runtimes", {
        id: "third",
        endpoint: third.endpoint,
        token: ADMIN_TOKEN,
        workspaces: ["acme"],
      });
      expect(dup.status).toBe(409);
      expect(dup.json.error.code).toBe("runtime_conflict");
      // a config-defined id is taken too
      const dupConfig = await backend.api.request("POST", "/admin/v1/runtimes", {
        id: "visible",
        endpoint: third.endpoint,
        workspaces: ["acme"],
      });
      expect(dupConfig.status).toBe(409);
      expect(dupConfig.json.error.code).toBe("runtime_conflict");

      const del = await backend.api.request("DELETE", "/admin/v1/runtimes/third");
      expect(del.status).toBe(200);
      expect(del.json.runtime.id).toBe("third");
      expect(del.text).not.toContain(ADMIN_TOKEN);
      const list = await backend.api.request("GET", "/admin/v1/runtimes");
      expect(list.json.runtimes.map((r: { id: string }) => r.id)).not.toContain("third");
      expect((await workspaceView(backend)).sync.map((s: { runtimeId: string }) => s.runtimeId)).not.toContain("third");
      const again = await backend.api.request("DELETE", "/admin/v1/runtimes/third");
      expect(again.status).toBe(404);
      expect(again.json.error.code).toBe("runtime_not_found");
      await third.server.stop();
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "registered runtimes survive a backend restart, and their token is never shown",
    async () => {
      kept = await startRuntime({ token: KEPT_TOKEN, policy: POLICY });
      const reg = await backend.api.request("POST", "/admin/v1/runtimes", {
        id: "kept",
        endpoint: kept.endpoint,
        token: KEPT_TOKEN,
        workspaces: ["acme"],
      });
      expect(reg.status).toBe(201);
      await waitForRevision(kept, 3);

      expect(await backend.server.stop()).toBe(0);
      backend = await startBackend(backendOpts);
      const list = await backend.api.request("GET", "/admin/v1/runtimes");
      expect(list.status).toBe(200);
      const row = (list.json.runtimes as { id: string; endpoint: string; workspaces: string[] }[]).find(
        (r) => r.id === "kept",
      );
      expect(row).toMatchObject({ id: "kept", endpoint: kept.endpoint, workspaces: ["acme"] });
      expect(list.json.runtimes.map((r: { id: string }) => r.id)).not.toContain("third");
      for (const token of [KEPT_TOKEN, VISIBLE_TOKEN, HIDDEN_TOKEN, ADMIN_TOKEN])
        expect(list.text).not.toContain(token);

      // Same source, same bundle: the revision is kept across the restart, and the kept
      // runtime (using its stored token) is synced again.
      expect((await workspaceView(backend)).revision).toBe(3);
      await waitForSync(backend, "kept", syncedAt(3), "kept synced after restart");
      await waitForSync(backend, "visible", syncedAt(3), "visible synced");
      expect((await bundlesOn(kept, "acme")).map((b) => b.revision)).toEqual([3]);
      await expectHiddenEmpty();
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "an invalid source shows the error and keeps serving the last good revision",
    async () => {
      const good = (await bundlesOn(visible, "acme"))[0]!;
      expect(good.revision).toBe(3);
      const goodText = readFileSync(CODER, "utf8");
      writeFileSync(CODER, "name: coder\ndescription: [unclosed\n  requires: {\n");
      const ws = await waitFor(
        async () => {
          const w = await workspaceView(backend);
          return w.source.state === "error" ? w : undefined;
        },
        "source error",
        CONVERGE_MS,
        100,
      );
      expect(ws.revision).toBe(3);
      expect(ws.source.error.code).toEqual(expect.any(String));
      expect(ws.source.error.message).toContain("profiles/coder.yaml");
      expect(ws.source.error.message).not.toContain(WS);
      expect(ws.source.error.message).not.toContain("unclosed");
      expect(ws.profiles).toContainEqual({ name: "coder", description: "Fixes bugs (edit two)." });

      // the list view agrees
      const list = await backend.api.request("GET", "/api/v1/workspaces");
      expect(list.json.workspaces[0]).toMatchObject({ id: "acme", revision: 3, source: { state: "error" } });

      // a manual resync does not turn a broken source into a new revision
      const resync = await backend.api.request("POST", "/api/v1/workspaces/acme/resync");
      expect(resync.status).toBe(202);
      expect((await workspaceView(backend)).revision).toBe(3);

      // runtimes keep the last good bundle, and a launch still uses it
      const after = await bundlesOn(visible, "acme");
      expect(after[0]).toMatchObject({ revision: 3, digest: good.digest });
      expect(after.map((b) => b.revision)).toEqual([3]); // the data dir was wiped after revision 3
      const launch = await backend.api.request("POST", "/api/v1/workspaces/acme/workers", {
        profile: "coder",
        runtimeId: "visible",
      });
      expect(launch.status).toBe(201);
      expect(launch.json.worker).toMatchObject({ runtimeId: "visible", revision: 3, mode: "bundle" });

      // restoring the file recovers the source without a new revision
      writeFileSync(CODER, goodText);
      const recovered = await waitFor(
        async () => {
          const w = await workspaceView(backend);
          return w.source.state === "ok" ? w : undefined;
        },
        "source ok",
        CONVERGE_MS,
        100,
      );
      expect(recovered.revision).toBe(3);
      expect(recovered.source.error).toBeUndefined();
      expect((await bundlesOn(visible, "acme"))[0]!.revision).toBe(3);
      await expectHiddenEmpty();
    },
    E2E_TIMEOUT_MS,
  );

  test(
    "the invisible runtime never received a bundle, and the backend never synced to it",
    async () => {
      await expectHiddenEmpty();
      const entry = await syncEntry(backend, "hidden");
      expect(entry).toBeUndefined();
      const workers = await hidden.api.request("GET", "/v1/workers");
      expect(workers.json.workers).toEqual([]);
    },
    E2E_TIMEOUT_MS,
  );
});
