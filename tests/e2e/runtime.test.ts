/**
 * Runtime mode as a real process: auth, bundle storage, Workers in both modes, graceful
 * stop, restart on the same data directory, and durability of acknowledged bundles
 * across `kill -9`.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Client,
  cleanup,
  client,
  makeBundle,
  pool,
  recomputeDigest,
  type Server,
  spawn,
  tempDir,
} from "./harness.ts";

const TOKEN = "e2e-runtime-token-0123456789";

afterAll(cleanup);

interface Setup {
  dir: string;
  data: string;
  policy: string;
  tokenFile: string;
  args: string[];
}

function setup(policy: unknown = {}): Setup {
  const dir = tempDir();
  const data = join(dir, "data");
  const policyFile = join(dir, "host-policy.json");
  const tokenFile = join(dir, "token");
  writeFileSync(policyFile, JSON.stringify(policy));
  writeFileSync(tokenFile, `${TOKEN}\n`);
  return {
    dir,
    data,
    policy: policyFile,
    tokenFile,
    args: ["--listen", "127.0.0.1:0", "--data", data, "--host-policy", policyFile, "--token-file", tokenFile],
  };
}

const startRuntime = (s: Setup) => spawn("runtime", s.args);

function expectEnvelope(body: unknown, code: string) {
  expect(body).toEqual({ error: { code, message: expect.any(String), details: expect.any(Object) } });
}

describe("runtime process", () => {
  let s: Setup;
  let rt: Server;
  let api: Client;
  const bundle = makeBundle({ id: "e2e.runtime", workspaceId: "e2e" });
  let bundleBytes: Uint8Array;
  let bundleWorkerId = "";
  let builtinWorkerId = "";

  beforeAll(async () => {
    s = setup({ builtinProfiles: ["companion", "reviewer"] });
    rt = await startRuntime(s);
    api = client(rt.url, TOKEN);
  });

  test("prints one listening line with mode and url on stdout", () => {
    expect(rt.listeningLine()).toEqual({ event: "listening", mode: "runtime", url: expect.any(String) });
    expect(rt.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test("GET /healthz is open without a token", async () => {
    const r = await client(rt.url).request("GET", "/healthz");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "ok" });
  });

  test("a /v1 request without a token gets the 401 envelope", async () => {
    const r = await client(rt.url).request("GET", "/v1/runtime");
    expect(r.status).toBe(401);
    expectEnvelope(r.json, "unauthorized");
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  test("a /v1 request with a wrong token, or without the Bearer scheme, gets 401", async () => {
    const wrong = await client(rt.url, `${TOKEN}x`).request("GET", "/v1/runtime");
    expect(wrong.status).toBe(401);
    expectEnvelope(wrong.json, "unauthorized");
    const prefix = await client(rt.url, TOKEN.slice(0, -1)).request("GET", "/v1/runtime");
    expect(prefix.status).toBe(401);
    const noScheme = await client(rt.url).request("GET", "/v1/runtime", undefined, { authorization: TOKEN });
    expect(noScheme.status).toBe(401);
    expectEnvelope(noScheme.json, "unauthorized");
    const put = await client(rt.url, "not-the-token").request(
      "PUT",
      `/v1/config-bundles/${bundle.metadata.digest}`,
      bundle,
    );
    expect(put.status).toBe(401);
    expectEnvelope(put.json, "unauthorized");
    // nothing was stored by the rejected PUT
    expect((await api.request("HEAD", `/v1/config-bundles/${bundle.metadata.digest}`)).status).toBe(404);
  });

  test("GET /v1/runtime with the token shows id, version, counts and policy names", async () => {
    const r = await api.request("GET", "/v1/runtime");
    expect(r.status).toBe(200);
    expect(r.json.runtime.id).toEqual(expect.any(String));
    expect(r.json.runtime.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.json.runtime.policy.builtinProfiles).toEqual(["companion", "reviewer"]);
    expect(r.json.runtime.policy.requireBundle).toBe(false);
  });

  test("PUT stores a bundle (201), a repeat is 200, and GET/HEAD serve it", async () => {
    const path = `/v1/config-bundles/${bundle.metadata.digest}`;
    const first = await api.request("PUT", path, bundle);
    expect(first.status).toBe(201);
    expect(first.json.bundle).toMatchObject({
      id: "e2e.runtime",
      digest: bundle.metadata.digest,
      revision: 1,
      workspaceId: "e2e",
      profileCount: 2,
      declarationCount: 0,
    });
    const again = await api.request("PUT", path, bundle);
    expect(again.status).toBe(200);
    expect(again.json.bundle.digest).toBe(bundle.metadata.digest);

    const got = await api.request("GET", path);
    expect(got.status).toBe(200);
    expect(got.headers.get("etag")).toBe(`"${bundle.metadata.digest}"`);
    expect(got.json).toEqual(bundle);
    expect(recomputeDigest(got.json)).toBe(bundle.metadata.digest);
    bundleBytes = got.bytes;

    const notModified = await api.request("GET", path, undefined, { "if-none-match": `"${bundle.metadata.digest}"` });
    expect(notModified.status).toBe(304);
    expect(notModified.text).toBe("");

    const head = await api.request("HEAD", path);
    expect(head.status).toBe(200);
    expect(head.text).toBe("");

    const list = await api.request("GET", "/v1/config-bundles?workspaceId=e2e");
    expect(list.status).toBe(200);
    expect(list.json.bundles.map((b: { digest: string }) => b.digest)).toContain(bundle.metadata.digest);
  });

  test("an unknown digest is 404 config_bundle_missing on GET and 404 on HEAD", async () => {
    const other = makeBundle().metadata.digest;
    const got = await api.request("GET", `/v1/config-bundles/${other}`);
    expect(got.status).toBe(404);
    expectEnvelope(got.json, "config_bundle_missing");
    const head = await api.request("HEAD", `/v1/config-bundles/${other}`);
    expect(head.status).toBe(404);
    expect(head.text).toBe("");
  });

  test("a PUT whose path digest differs from the content is 409 and stores nothing", async () => {
    const b = makeBundle();
    const wrong = makeBundle().metadata.digest;
    const r = await api.request("PUT", `/v1/config-bundles/${wrong}`, b);
    expect(r.status).toBe(409);
    expectEnvelope(r.json, "config_bundle_digest_mismatch");
    expect((await api.request("HEAD", `/v1/config-bundles/${wrong}`)).status).toBe(404);
    expect((await api.request("HEAD", `/v1/config-bundles/${b.metadata.digest}`)).status).toBe(404);
  });

  test("a named profile with a bundle creates a bundle-mode Worker", async () => {
    const r = await api.request("POST", "/v1/workers", {
      workerId: "w-bundle-1",
      profile: { kind: "named", name: "assistant" },
      configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
      intent: { goal: "Answer a question" },
      displayName: "bundle worker",
    });
    expect(r.status).toBe(201);
    expect(r.json.worker).toMatchObject({
      id: "w-bundle-1",
      status: "ready",
      mode: "bundle",
      profile: { kind: "named", name: "assistant" },
      configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
      displayName: "bundle worker",
    });
    expect(r.json.worker.spec.profile).toEqual({
      name: "assistant",
      chain: ["builtin:companion", "base", "assistant"],
    });
    expect(r.json.worker.spec.intent).toEqual({ goal: "Answer a question" });
    bundleWorkerId = r.json.worker.id;

    const same = await api.request("POST", "/v1/workers", {
      workerId: "w-bundle-1",
      profile: { kind: "named", name: "assistant" },
      configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
      intent: { goal: "Answer a question" },
      displayName: "bundle worker",
    });
    expect(same.status).toBe(200);
    expect(same.json.worker).toEqual(r.json.worker);
  });

  test("a builtin profile without a bundle creates a builtin-mode Worker", async () => {
    const r = await api.request("POST", "/v1/workers", { profile: { kind: "builtin", name: "companion" } });
    expect(r.status).toBe(201);
    expect(r.json.worker.mode).toBe("builtin");
    expect(r.json.worker.configBundle).toBeUndefined();
    expect(r.json.worker.spec.profile.chain).toEqual(["builtin:companion"]);
    builtinWorkerId = r.json.worker.id;
  });

  test("a builtin profile the host does not offer is 422 invalid_profile", async () => {
    const r = await api.request("POST", "/v1/workers", { profile: { kind: "builtin", name: "coder" } });
    expect(r.status).toBe(422);
    expectEnvelope(r.json, "invalid_profile");
  });

  test("a named profile without a bundle is 422 bundle_required; builtin with a bundle is 422 invalid_profile", async () => {
    const named = await api.request("POST", "/v1/workers", { profile: { kind: "named", name: "assistant" } });
    expect(named.status).toBe(422);
    expectEnvelope(named.json, "bundle_required");
    const builtin = await api.request("POST", "/v1/workers", {
      profile: { kind: "builtin", name: "companion" },
      configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
    });
    expect(builtin.status).toBe(422);
    expectEnvelope(builtin.json, "invalid_profile");
  });

  test("the bundle of a ready Worker cannot be deleted (409 config_bundle_in_use)", async () => {
    const r = await api.request("DELETE", `/v1/config-bundles/${bundle.metadata.digest}`);
    expect(r.status).toBe(409);
    expectEnvelope(r.json, "config_bundle_in_use");
  });

  test("SIGTERM exits 0, and a restart on the same --data serves the same bundles and Workers", async () => {
    const before = await api.request("GET", "/v1/workers");
    const runtimeBefore = await api.request("GET", "/v1/runtime");
    expect(before.json.workers.map((w: { id: string }) => w.id)).toEqual(
      expect.arrayContaining([bundleWorkerId, builtinWorkerId]),
    );

    expect(await rt.stop()).toBe(0);
    expect(rt.logs().some((l) => l.event === "shutting_down")).toBe(true);

    rt = await startRuntime(s);
    api = client(rt.url, TOKEN);

    const got = await api.request("GET", `/v1/config-bundles/${bundle.metadata.digest}`);
    expect(got.status).toBe(200);
    expect(got.bytes).toEqual(bundleBytes);
    expect(recomputeDigest(got.json)).toBe(bundle.metadata.digest);

    const after = await api.request("GET", "/v1/workers");
    expect(after.status).toBe(200);
    expect(after.json.workers).toEqual(before.json.workers);
    const bw = await api.request("GET", `/v1/workers/${bundleWorkerId}`);
    expect(bw.json.worker.mode).toBe("bundle");
    const bi = await api.request("GET", `/v1/workers/${builtinWorkerId}`);
    expect(bi.json.worker.mode).toBe("builtin");

    const runtimeAfter = await api.request("GET", "/v1/runtime");
    expect(runtimeAfter.json.runtime.id).toBe(runtimeBefore.json.runtime.id);
    expect(runtimeAfter.json.runtime.counts).toEqual(runtimeBefore.json.runtime.counts);
  });

  test("after a restart, stopping the Worker frees its bundle for DELETE", async () => {
    const stop = await api.request("POST", `/v1/workers/${bundleWorkerId}/stop`);
    expect(stop.status).toBe(200);
    expect(stop.json.worker.status).toBe("stopped");
    const del = await api.request("DELETE", `/v1/config-bundles/${bundle.metadata.digest}`);
    expect(del.status).toBe(200);
    expect(del.json.bundle.digest).toBe(bundle.metadata.digest);
    expect((await api.request("HEAD", `/v1/config-bundles/${bundle.metadata.digest}`)).status).toBe(404);
    expect(await rt.stop()).toBe(0);
  });
});

describe("runtime durability", () => {
  test("every bundle acknowledged with 201 before kill -9 is present and re-verifies after restart", async () => {
    const s = setup({});
    const bundles = Array.from({ length: 200 }, (_, i) => makeBundle({ id: `burst.b${i}`, workspaceId: "burst" }));
    let rt = await startRuntime(s);
    const acked: number[] = [];
    let killing: Promise<void> | undefined;
    try {
      const api = client(rt.url, TOKEN);
      await pool(bundles, 16, async (b, i) => {
        if (killing) return;
        try {
          const r = await api.request("PUT", `/v1/config-bundles/${b.metadata.digest}`, b);
          if (r.status === 201) acked.push(i);
          else if (r.status !== 200) throw new Error(`unexpected status ${r.status}: ${r.text}`);
        } catch (e) {
          // only connection failures caused by the kill are acceptable
          if (!killing) throw e;
        }
        if (acked.length >= 50 && !killing) killing = rt.kill();
      });
      await killing;
      expect(killing).toBeDefined();
      expect(rt.exitCode).toBeNull(); // killed by a signal, not exited
      expect(acked.length).toBeGreaterThanOrEqual(50);

      rt = await startRuntime(s);
      const api2 = client(rt.url, TOKEN);
      for (const i of acked) {
        const b = bundles[i]!;
        const got = await api2.request("GET", `/v1/config-bundles/${b.metadata.digest}`);
        expect(got.status).toBe(200);
        expect(got.json).toEqual(b);
        expect(recomputeDigest(got.json)).toBe(b.metadata.digest);
      }
      const list = await api2.request("GET", "/v1/config-bundles?workspaceId=burst&limit=10000");
      expect(list.status).toBe(200);
      const listed = new Set(list.json.bundles.map((b: { digest: string }) => b.digest));
      for (const i of acked) expect(listed.has(bundles[i]!.metadata.digest)).toBe(true);

      // The file on disk, read by another process-level reader while the runtime runs.
      const db = new Database(join(s.data, "runtime.sqlite"), { readonly: true });
      try {
        const row = db
          .query<{ n: number; q: number }, []>("SELECT count(*) AS n, coalesce(sum(quarantined), 0) AS q FROM bundles")
          .get()!;
        expect(row.n).toBeGreaterThanOrEqual(acked.length);
        expect(row.n).toBeLessThanOrEqual(bundles.length);
        expect(row.q).toBe(0);
        const digests = new Set(
          db
            .query<{ digest: string }, []>("SELECT digest FROM bundles")
            .all()
            .map((r) => r.digest),
        );
        for (const i of acked) expect(digests.has(bundles[i]!.metadata.digest)).toBe(true);
      } finally {
        db.close();
      }
      const info = await api2.request("GET", "/v1/runtime");
      expect(info.json.runtime.counts.bundles).toBe(listed.size);
      expect(await rt.stop()).toBe(0);
    } finally {
      await rt.kill();
    }
  }, 120_000);

  test("SIGTERM during a burst of PUTs exits 0 and keeps every acknowledged bundle", async () => {
    const s = setup({});
    const bundles = Array.from({ length: 120 }, (_, i) => makeBundle({ id: `term.b${i}`, workspaceId: "term" }));
    let rt = await startRuntime(s);
    const acked: number[] = [];
    let stopping: Promise<number | null> | undefined;
    try {
      const api = client(rt.url, TOKEN);
      await pool(bundles, 16, async (b, i) => {
        if (stopping) return;
        try {
          const r = await api.request("PUT", `/v1/config-bundles/${b.metadata.digest}`, b);
          if (r.status === 201) acked.push(i);
          else throw new Error(`unexpected status ${r.status}: ${r.text}`);
        } catch (e) {
          if (!stopping) throw e;
        }
        if (acked.length >= 30 && !stopping) stopping = rt.stop();
      });
      expect(await stopping).toBe(0);

      rt = await startRuntime(s);
      const api2 = client(rt.url, TOKEN);
      for (const i of acked) {
        const got = await api2.request("GET", `/v1/config-bundles/${bundles[i]!.metadata.digest}`);
        expect(got.status).toBe(200);
        expect(recomputeDigest(got.json)).toBe(bundles[i]!.metadata.digest);
      }
      expect(await rt.stop()).toBe(0);
    } finally {
      await rt.kill();
    }
  }, 120_000);
});

describe("concurrent identical PUTs", () => {
  test("store one row: exactly one 201, the rest 200", async () => {
    const s = setup({});
    const rt = await startRuntime(s);
    try {
      const api = client(rt.url, TOKEN);
      const b = makeBundle({ id: "same.one", workspaceId: "same" });
      const statuses = await Promise.all(
        Array.from({ length: 24 }, () => api.request("PUT", `/v1/config-bundles/${b.metadata.digest}`, b)),
      ).then((rs) => rs.map((r) => r.status));
      expect(statuses.filter((x) => x === 201)).toHaveLength(1);
      expect(statuses.filter((x) => x === 200)).toHaveLength(23);
      expect(await rt.stop()).toBe(0);

      const db = new Database(join(s.data, "runtime.sqlite"), { readonly: true });
      try {
        const row = db
          .query<{ n: number }, [string]>("SELECT count(*) AS n FROM bundles WHERE digest = ?")
          .get(b.metadata.digest)!;
        expect(row.n).toBe(1);
      } finally {
        db.close();
      }
    } finally {
      await rt.kill();
    }
  });
});

describe("host policy requireBundle: true", () => {
  let rt: Server | undefined;
  afterAll(async () => {
    await rt?.kill();
  });

  test("a builtin Worker is 422 bundle_required, a bundle Worker is created", async () => {
    const s = setup({ requireBundle: true });
    rt = await startRuntime(s);
    const api = client(rt.url, TOKEN);
    const info = await api.request("GET", "/v1/runtime");
    expect(info.json.runtime.policy.requireBundle).toBe(true);

    const builtin = await api.request("POST", "/v1/workers", { profile: { kind: "builtin", name: "companion" } });
    expect(builtin.status).toBe(422);
    expectEnvelope(builtin.json, "bundle_required");

    const b = makeBundle();
    expect((await api.request("PUT", `/v1/config-bundles/${b.metadata.digest}`, b)).status).toBe(201);
    const named = await api.request("POST", "/v1/workers", {
      profile: { kind: "named", name: "assistant" },
      configBundle: { id: b.metadata.id, digest: b.metadata.digest },
    });
    expect(named.status).toBe(201);
    expect(named.json.worker.mode).toBe("bundle");

    // nothing was stored for the refused builtin Worker
    const workers = await api.request("GET", "/v1/workers");
    expect(workers.json.workers.map((w: { mode: string }) => w.mode)).toEqual(["bundle"]);
    expect(await rt.stop()).toBe(0);
  });
});

test("the listening line is printed only once the url answers", async () => {
  const s = setup({});
  const rt = await startRuntime(s);
  try {
    // no retry: the first request right after the line must succeed
    expect((await fetch(`${rt.url}/healthz`)).status).toBe(200);
    expect(await rt.stop()).toBe(0);
  } finally {
    await rt.kill();
  }
});
