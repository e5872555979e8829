/**
 * The runtime REST API (contract §4–§6) through `runtimeApp(...).handle`: every endpoint,
 * every error code of the table in its envelope and status, rows on disk, and the
 * never-echo invariants for secrets, host paths, the token and forbidden bundle values.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { canonicalJson } from "../../src/bundle/digest.ts";
import type { Bundle, Content } from "../../src/bundle/model.ts";
import {
  baseContent,
  cleanup,
  expectError,
  type Harness,
  harness,
  hostPolicy,
  LINT_DIGEST,
  MOUNT_PATH,
  makeBundle,
  onDisk,
  SECRET_ENV,
  SECRET_FILE,
  SECRET_VALUE,
  seal,
  TOKEN,
} from "./fixtures.ts";

const ZERO_DIGEST = `sha256:${"0".repeat(64)}`;
const bundlePath = (digest: string) => `/v1/config-bundles/${digest}`;
const put = (h: Harness, b: Bundle, digest = b.metadata.digest) => h.call("PUT", bundlePath(digest), { body: b });
const ref = (b: Bundle) => ({ id: b.metadata.id, digest: b.metadata.digest });

async function stored(h: Harness, b: Bundle): Promise<void> {
  const res = await put(h, b);
  expect(res.status).toBe(201);
}

function bundleRows(h: Harness) {
  return onDisk<{ digest: string; id: string; revision: number; quarantined: number }>(
    h.dataDir,
    "SELECT digest, id, revision, quarantined FROM bundles ORDER BY revision",
  );
}

function workerRows(h: Harness) {
  return onDisk<{ id: string; status: string; bundle_digest: string | null }>(
    h.dataDir,
    "SELECT id, status, bundle_digest FROM workers ORDER BY id",
  );
}

/** A small, otherwise valid content for edits that should break exactly one rule. */
function minimalContent(): Content {
  return { workspace: { id: "acme", name: "Acme" }, profiles: [{ name: "solo" }] };
}

function withContent(edit: (c: Content) => void): Bundle {
  const content = baseContent();
  edit(content);
  return makeBundle({ content });
}

const coderRequest = (b: Bundle, extra: Record<string, unknown> = {}) => ({
  profile: { kind: "named", name: "coder" },
  configBundle: ref(b),
  intent: { goal: "Fix the flaky test" },
  ...extra,
});

beforeAll(() => {
  process.env[SECRET_ENV] = SECRET_VALUE;
});

afterEach(() => {
  process.env[SECRET_ENV] = SECRET_VALUE;
  cleanup();
});

afterAll(() => {
  delete process.env[SECRET_ENV];
});

describe("GET /healthz", () => {
  test("is open without a token and reports ok", async () => {
    const h = harness();
    const res = await h.call("GET", "/healthz", { anonymous: true });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});

describe("GET /v1/runtime", () => {
  test("shows id, version, counts and host policy names only", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    expect((await h.call("POST", "/v1/workers", { body: coderRequest(b) })).status).toBe(201);

    const res = await h.call("GET", "/v1/runtime");
    expect(res.status).toBe(200);
    const text = await res.text();
    const { runtime } = JSON.parse(text);
    expect(runtime.id).toBe(h.runtime.id);
    expect(typeof runtime.version).toBe("string");
    expect(runtime.counts).toEqual({ bundles: 1, quarantined: 0, workers: 1, activeWorkers: 1 });
    expect(runtime.policy.secrets).toEqual(["anthropic-api-key", "github-token"]);
    expect(runtime.policy.mounts).toEqual(["repo"]);
    expect(runtime.policy.network).toEqual(["github"]);
    expect(runtime.policy.shell).toBe(true);
    expect(runtime.policy.git).toBe(true);
    expect(runtime.policy.capabilities).toEqual(["shell", "git"]);
    expect(runtime.policy.requireBundle).toBe(false);
    expect(runtime.policy.builtinProfiles).toEqual(["companion", "coder", "reviewer"]);
    for (const hidden of [MOUNT_PATH, SECRET_ENV, SECRET_FILE, SECRET_VALUE, TOKEN, h.dataDir]) {
      expect(text).not.toContain(hidden);
    }
  });

  test("keeps the runtime id across a restart on the same data dir", async () => {
    const h = harness();
    const first = (await (await h.call("GET", "/v1/runtime")).json()).runtime.id;
    const again = (await (await h.reopen().call("GET", "/v1/runtime")).json()).runtime.id;
    expect(again).toBe(first);
  });
});

describe("authentication", () => {
  const b = makeBundle();
  const endpoints: [string, string, unknown?][] = [
    ["GET", "/v1/runtime"],
    ["PUT", bundlePath(b.metadata.digest), b],
    ["GET", bundlePath(b.metadata.digest)],
    ["HEAD", bundlePath(b.metadata.digest)],
    ["GET", "/v1/config-bundles"],
    ["POST", "/v1/config-bundles/availability", { refs: [] }],
    ["DELETE", bundlePath(b.metadata.digest)],
    ["POST", "/v1/workers", { profile: { kind: "builtin", name: "companion" } }],
    ["GET", "/v1/workers"],
    ["GET", "/v1/workers/w-1"],
    ["POST", "/v1/workers/w-1/stop"],
    ["GET", "/v1/no-such-route"],
  ];

  for (const [method, path, body] of endpoints) {
    test(`${method} ${path.replace(b.metadata.digest, "{digest}")} needs the bearer token`, async () => {
      const h = harness();
      const missing = await h.call(method, path, { body, anonymous: true });
      const wrong = await h.call(method, path, { body, headers: { authorization: "Bearer not-the-token" } });
      const basic = await h.call(method, path, { body, headers: { authorization: `Basic ${btoa(`u:${TOKEN}`)}` } });
      for (const res of [missing, wrong, basic]) {
        if (method === "HEAD") {
          // Bun's server drops a HEAD body on the wire; through app.handle only the status is comparable.
          expect(res.status).toBe(401);
        } else {
          await expectError(res, 401, "unauthorized");
        }
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
      }
      expect(bundleRows(h)).toEqual([]);
      expect(workerRows(h)).toEqual([]);
    });
  }

  test("a token sent with different case or extra text is refused", async () => {
    const h = harness();
    await expectError(
      await h.call("GET", "/v1/runtime", { headers: { authorization: `Bearer ${TOKEN.toUpperCase()}` } }),
      401,
      "unauthorized",
    );
    await expectError(
      await h.call("GET", "/v1/runtime", { headers: { authorization: `Bearer ${TOKEN}x` } }),
      401,
      "unauthorized",
    );
  });
});

describe("PUT /v1/config-bundles/{digest}: bytes", () => {
  test("stores and serves the canonical bytes whether the body came canonical or pretty-printed", async () => {
    const h = harness();
    const pretty = makeBundle({ id: "acme.pretty" });
    const canonicalSent = makeBundle({ id: "acme.canon" });
    expect(
      (await h.call("PUT", bundlePath(pretty.metadata.digest), { body: JSON.stringify(pretty, null, 2) })).status,
    ).toBe(201);
    expect(
      (await h.call("PUT", bundlePath(canonicalSent.metadata.digest), { body: canonicalJson(canonicalSent) })).status,
    ).toBe(201);
    for (const b of [pretty, canonicalSent]) {
      const res = await h.call("GET", bundlePath(b.metadata.digest));
      expect(await res.text()).toBe(canonicalJson(b));
    }
  });

  test("a body that is not valid UTF-8, or starts with a byte order mark, is 400 invalid_json and stores nothing", async () => {
    const h = harness();
    const b = makeBundle();
    const text = canonicalJson(b);
    const utf8 = new TextEncoder().encode(text);
    const at = text.indexOf("Acme");
    const broken = new Uint8Array([...utf8.slice(0, at), 0xf0, 0x9f, 0x98, ...utf8.slice(at + 3)]);
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8]);
    for (const body of [broken, bom]) {
      const res = await h.app.handle(
        new Request(`http://localhost${bundlePath(b.metadata.digest)}`, {
          method: "PUT",
          headers: {
            authorization: `Bearer ${TOKEN}`,
            "content-type": "application/json",
            "content-length": String(body.length),
          },
          body,
        }),
      );
      await expectError(res, 400, "invalid_json");
    }
    expect(bundleRows(h)).toEqual([]);
  });
});

describe("PUT /v1/config-bundles/{digest}", () => {
  test("stores a new bundle (201), then answers an identical PUT with 200 and one row", async () => {
    const h = harness();
    const b = makeBundle();
    const first = await put(h, b);
    expect(first.status).toBe(201);
    const { bundle: summary } = await first.json();
    expect(summary).toEqual({
      id: "acme.default",
      digest: b.metadata.digest,
      revision: 1,
      workspaceId: "acme",
      createdAt: "2026-11-24T10:00:00Z",
      provenance: { source: "workspace-dir", detail: "git:3f2c1aa" },
      profileCount: b.content.profiles.length,
      declarationCount: b.content.declarations!.length,
      sizeBytes: expect.any(Number),
      storedAt: expect.any(String),
    });

    const second = await put(h, b);
    expect(second.status).toBe(200);
    expect((await second.json()).bundle).toEqual(summary);

    expect(bundleRows(h)).toEqual([{ digest: b.metadata.digest, id: "acme.default", revision: 1, quarantined: 0 }]);
    const served = await h.call("GET", bundlePath(b.metadata.digest));
    expect((await served.arrayBuffer()).byteLength).toBe(summary.sizeBytes);
  });

  test("concurrent identical PUTs create exactly one row", async () => {
    const h = harness();
    const b = makeBundle();
    const statuses = (await Promise.all(Array.from({ length: 8 }, () => put(h, b)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(7);
    expect(bundleRows(h)).toHaveLength(1);
  });

  test("a PUT under another revision of identical content keeps the stored row", async () => {
    const h = harness();
    await stored(h, makeBundle({ revision: 1 }));
    const res = await put(h, makeBundle({ revision: 2 }));
    expect(res.status).toBe(200);
    expect((await res.json()).bundle.revision).toBe(1);
    expect(bundleRows(h)).toHaveLength(1);
  });

  test("rejects a path digest that differs from the body's digest (409), storing nothing", async () => {
    const h = harness();
    const b = makeBundle();
    const other = makeBundle({ id: "acme.other" }).metadata.digest;
    const details = await expectError(await put(h, b, other), 409, "config_bundle_digest_mismatch");
    expect(details.computedDigest).toBe(b.metadata.digest);
    expect(bundleRows(h)).toEqual([]);
  });

  test("rejects a bundle whose metadata.digest was computed over other content (409)", async () => {
    const h = harness();
    const b = makeBundle();
    b.content.workspace.name = "Acme, edited after sealing";
    const details = await expectError(await put(h, b), 409, "config_bundle_digest_mismatch");
    expect(details.pointer).toBe("/metadata/digest");
    expect(details.computedDigest).not.toBe(b.metadata.digest);
    expect(bundleRows(h)).toEqual([]);
  });

  test("rejects a malformed path digest with invalid_request and details.errors", async () => {
    const h = harness();
    const b = makeBundle();
    for (const bad of ["sha256:ABC", `sha256:${"A".repeat(64)}`, "md5:0000"]) {
      const details = await expectError(await put(h, b, bad), 400, "invalid_request");
      const errors = details.errors as { path: string; message: string }[];
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]!.path).toBe("/digest");
      expect(typeof errors[0]!.message).toBe("string");
    }
  });

  test("rejects a body that does not fit the schema with [{path, message}] errors", async () => {
    const h = harness();
    const b = makeBundle();
    const broken = structuredClone(b) as unknown as { content: Record<string, unknown> };
    delete broken.content.workspace;
    const details = await expectError(
      await h.call("PUT", bundlePath(b.metadata.digest), { body: broken }),
      400,
      "invalid_request",
    );
    const errors = details.errors as { path: string; message: string }[];
    expect(errors.map((e) => e.path)).toContain("/content/workspace");
    for (const e of errors) expect(Object.keys(e).sort()).toEqual(["message", "path"]);

    const extra = { ...structuredClone(b), surprise: true };
    await expectError(await h.call("PUT", bundlePath(b.metadata.digest), { body: extra }), 400, "invalid_request");
    await expectError(await h.call("PUT", bundlePath(b.metadata.digest), { body: [] }), 400, "invalid_request");
    expect(bundleRows(h)).toEqual([]);
  });

  test("rejects an empty body as invalid_request", async () => {
    const h = harness();
    const res = await h.call("PUT", bundlePath(ZERO_DIGEST), { headers: { "content-type": "application/json" } });
    await expectError(res, 400, "invalid_request");
  });

  test("rejects a body that is not JSON with invalid_json", async () => {
    const h = harness();
    await expectError(
      await h.call("PUT", bundlePath(ZERO_DIGEST), { body: '{"schemaVersion": 1,' }),
      400,
      "invalid_json",
    );
    expect(bundleRows(h)).toEqual([]);
  });

  test("rejects a text/plain body with unsupported_media_type", async () => {
    const h = harness();
    const b = makeBundle();
    const res = await h.call("PUT", bundlePath(b.metadata.digest), {
      body: JSON.stringify(b),
      headers: { "content-type": "text/plain" },
    });
    await expectError(res, 415, "unsupported_media_type");
    expect(bundleRows(h)).toEqual([]);
  });

  test("rejects an unsupported schemaVersion (422) before checking the digest", async () => {
    const h = harness();
    const b = makeBundle();
    b.schemaVersion = 2;
    await expectError(await put(h, b), 422, "unsupported_schema_version");
    seal(b);
    await expectError(await put(h, b), 422, "unsupported_schema_version");
    expect(bundleRows(h)).toEqual([]);
  });

  test("rejects credential material with forbidden_content {pointer, rule} and never echoes it", async () => {
    const h = harness();
    const awsKey = "AKIAQWERTYUIOPASDFGH";
    const b = withContent((c) => {
      c.workspace.project!.labels = { team: awsKey };
    });
    const res = await put(h, b);
    const raw = await res.clone().text();
    const details = await expectError(res, 422, "forbidden_content");
    expect(details).toEqual({ pointer: "/content/workspace/project/labels/team", rule: "aws_access_key_id" });
    expect(raw).not.toContain(awsKey);
    expect(raw).not.toContain("QWERTYUIOPASDFGH");
    expect(bundleRows(h)).toEqual([]);
  });

  test("rejects a host path in a structured string, pointing at the field", async () => {
    const h = harness();
    const hostPath = "/opt/sentinel-tools/bin/shell";
    const b = withContent((c) => {
      c.tools![0]!.kind = hostPath;
    });
    const res = await put(h, b);
    const raw = await res.clone().text();
    expect(await expectError(res, 422, "forbidden_content")).toEqual({
      pointer: "/content/tools/0/kind",
      rule: "host_path",
    });
    expect(raw).not.toContain("sentinel-tools");
  });

  test("checks the digest before forbidden content", async () => {
    const h = harness();
    const b = withContent((c) => {
      c.workspace.project!.labels = { team: "AKIAQWERTYUIOPASDFGH" };
    });
    b.content.workspace.name = "changed after sealing";
    await expectError(await put(h, b), 409, "config_bundle_digest_mismatch");
  });

  test("rejects an unknown declaration kind with unsupported_declaration {pointer, kind}", async () => {
    const h = harness();
    const b = withContent((c) => {
      c.declarations!.push({ kind: "vault_ref", name: "vault", ref: "vault:acme" });
    });
    const details = await expectError(await put(h, b), 422, "unsupported_declaration");
    expect(details).toEqual({
      pointer: `/content/declarations/${b.content.declarations!.length - 1}/kind`,
      kind: "vault_ref",
    });
    expect(bundleRows(h)).toEqual([]);
  });

  test("rejects dangling names, extends cycles and wrong prompt digests with invalid_bundle {pointer, reason}", async () => {
    const h = harness();
    const cases: [Bundle, { pointer: string; reason: string }][] = [
      [
        withContent((c) => {
          c.profiles[2]!.prompts = ["no-such-prompt"];
        }),
        { pointer: "/content/profiles/2/prompts/0", reason: "unknown_prompt" },
      ],
      [
        withContent((c) => {
          c.profiles[0]!.extends = "coder";
        }),
        { pointer: "/content/profiles/0/extends", reason: "extends_cycle" },
      ],
      [
        withContent((c) => {
          c.prompts![0]!.digest = ZERO_DIGEST;
        }),
        { pointer: "/content/prompts/0/digest", reason: "prompt_digest_mismatch" },
      ],
      [
        withContent((c) => {
          c.profiles.push({ name: "coder" });
        }),
        { pointer: `/content/profiles/${baseContent().profiles.length}/name`, reason: "duplicate_name" },
      ],
    ];
    for (const [b, expected] of cases) {
      expect(await expectError(await put(h, b), 422, "invalid_bundle")).toEqual(expected);
    }
    expect(bundleRows(h)).toEqual([]);
  });

  describe("with limits.maxBundleBytes = 2048", () => {
    const small = () => harness(hostPolicy({ limits: { maxBundleBytes: 2048 } }));

    test("accepts a bundle under the limit", async () => {
      const h = small();
      expect((await put(h, makeBundle({ content: minimalContent() }))).status).toBe(201);
    });

    test("refuses a declared Content-Length over the limit without reading the body", async () => {
      const h = small();
      const res = await h.app.handle(
        new Request(`http://localhost${bundlePath(ZERO_DIGEST)}`, {
          method: "PUT",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "content-length": "4096" },
          body: "{}",
        }),
      );
      expect((await expectError(res, 413, "payload_too_large")).limit).toBe(2048);
    });

    test("refuses an oversized body sent without Content-Length", async () => {
      const h = small();
      const b = makeBundle();
      const bytes = new TextEncoder().encode(JSON.stringify(b));
      expect(bytes.byteLength).toBeGreaterThan(2048);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.byteLength; i += 512) controller.enqueue(bytes.slice(i, i + 512));
          controller.close();
        },
      });
      const res = await h.app.handle(
        new Request(`http://localhost${bundlePath(b.metadata.digest)}`, {
          method: "PUT",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: stream,
          duplex: "half",
        } as RequestInit),
      );
      await expectError(res, 413, "payload_too_large");
      expect(bundleRows(h)).toEqual([]);
    });

    test("refuses an oversized bundle sent with its real length", async () => {
      const h = small();
      await expectError(await put(h, makeBundle()), 413, "payload_too_large");
      expect(bundleRows(h)).toEqual([]);
    });
  });
});

describe("limits.maxBundles", () => {
  test("a new bundle beyond the limit is 507 store_full and stores nothing; a stored one still answers 200", async () => {
    const h = harness(hostPolicy({ limits: { maxBundles: 1 } }));
    const first = makeBundle();
    expect((await put(h, first)).status).toBe(201);
    const second = makeBundle({ id: "acme.other" });
    await expectError(await put(h, second), 507, "store_full");
    expect(bundleRows(h)).toHaveLength(1);
    expect((await put(h, first)).status).toBe(200);
    expect((await h.call("DELETE", bundlePath(first.metadata.digest))).status).toBe(200);
    expect((await put(h, second)).status).toBe(201);
  });
});

describe("GET /v1/config-bundles/{digest}", () => {
  test("returns the full bundle with ETag", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    const res = await h.call("GET", bundlePath(b.metadata.digest));
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe(`"${b.metadata.digest}"`);
    expect(res.headers.get("content-type")).toStartWith("application/json");
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(b)));
  });

  test("answers If-None-Match with 304 for the strong, weak, list and * forms", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    const etag = `"${b.metadata.digest}"`;
    for (const header of [etag, `W/${etag}`, `"${ZERO_DIGEST}", ${etag}`, `W/"${ZERO_DIGEST}",W/${etag}`, "*"]) {
      const res = await h.call("GET", bundlePath(b.metadata.digest), { headers: { "if-none-match": header } });
      expect(res.status).toBe(304);
      expect(res.headers.get("etag")).toBe(etag);
      expect(await res.text()).toBe("");
    }
    for (const header of [`"${ZERO_DIGEST}"`, b.metadata.digest, `"${ZERO_DIGEST}", W/"other"`]) {
      const res = await h.call("GET", bundlePath(b.metadata.digest), { headers: { "if-none-match": header } });
      expect(res.status).toBe(200);
      expect((await res.json()).metadata.digest).toBe(b.metadata.digest);
    }
  });

  test("answers an unknown digest with 404 config_bundle_missing, even with If-None-Match: *", async () => {
    const h = harness();
    await expectError(await h.call("GET", bundlePath(ZERO_DIGEST)), 404, "config_bundle_missing");
    await expectError(
      await h.call("GET", bundlePath(ZERO_DIGEST), { headers: { "if-none-match": "*" } }),
      404,
      "config_bundle_missing",
    );
  });

  test("answers a malformed digest with invalid_request", async () => {
    const h = harness();
    await expectError(await h.call("GET", bundlePath("latest")), 400, "invalid_request");
  });
});

describe("HEAD /v1/config-bundles/{digest}", () => {
  test("is 200 with ETag and no body when stored, 404 with no body when not", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    const hit = await h.call("HEAD", bundlePath(b.metadata.digest));
    expect(hit.status).toBe(200);
    expect(hit.headers.get("etag")).toBe(`"${b.metadata.digest}"`);
    expect(await hit.text()).toBe("");
    const miss = await h.call("HEAD", bundlePath(ZERO_DIGEST));
    expect(miss.status).toBe(404);
    expect(await miss.text()).toBe("");
  });
});

describe("GET /v1/config-bundles", () => {
  const revision = (rev: number, id = "acme.default", workspaceId = "acme") => {
    const content = baseContent();
    content.workspace.name = `Acme r${rev}`;
    return makeBundle({ id, workspaceId, revision: rev, content });
  };

  test("lists summaries newest revision first, filtered by workspaceId and id", async () => {
    const h = harness();
    for (const b of [
      revision(1),
      revision(3),
      revision(2),
      revision(5, "acme.tools"),
      revision(9, "beta.default", "beta"),
    ]) {
      await stored(h, b);
    }
    const list = async (query = "") => {
      const res = await h.call("GET", `/v1/config-bundles${query}`);
      expect(res.status).toBe(200);
      const { bundles } = (await res.json()) as { bundles: { id: string; revision: number; workspaceId: string }[] };
      return bundles.map((s) => `${s.workspaceId}/${s.id}@${s.revision}`);
    };
    expect(await list()).toEqual([
      "beta/beta.default@9",
      "acme/acme.tools@5",
      "acme/acme.default@3",
      "acme/acme.default@2",
      "acme/acme.default@1",
    ]);
    expect(await list("?workspaceId=acme")).toEqual([
      "acme/acme.tools@5",
      "acme/acme.default@3",
      "acme/acme.default@2",
      "acme/acme.default@1",
    ]);
    expect(await list("?id=acme.default")).toEqual([
      "acme/acme.default@3",
      "acme/acme.default@2",
      "acme/acme.default@1",
    ]);
    expect(await list("?workspaceId=acme&id=acme.tools")).toEqual(["acme/acme.tools@5"]);
    expect(await list("?workspaceId=beta&id=acme.default")).toEqual([]);
    expect(await list("?workspaceId=nobody")).toEqual([]);
  });

  test("list entries are full summaries", async () => {
    const h = harness();
    const b = makeBundle();
    const { bundle } = await (await put(h, b)).json();
    expect((await (await h.call("GET", "/v1/config-bundles")).json()).bundles).toEqual([bundle]);
  });

  test("rejects a malformed query with invalid_request", async () => {
    const h = harness();
    const details = await expectError(await h.call("GET", "/v1/config-bundles?limit=many"), 400, "invalid_request");
    expect((details.errors as { path: string }[])[0]!.path).toBe("/limit");
  });
});

describe("POST /v1/config-bundles/availability", () => {
  test("reports available, missing and digest_mismatch with availableDigests", async () => {
    const h = harness();
    const r1 = makeBundle({ revision: 1 });
    const c2 = baseContent();
    c2.workspace.name = "Acme 2";
    const r2 = makeBundle({ revision: 2, content: c2 });
    await stored(h, r1);
    await stored(h, r2);
    const res = await h.call("POST", "/v1/config-bundles/availability", {
      body: {
        refs: [ref(r1), { id: "acme.default", digest: ZERO_DIGEST }, { id: "nobody.default", digest: ZERO_DIGEST }],
      },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      results: [
        { id: "acme.default", digest: r1.metadata.digest, status: "available" },
        {
          id: "acme.default",
          digest: ZERO_DIGEST,
          status: "digest_mismatch",
          availableDigests: [r2.metadata.digest, r1.metadata.digest],
        },
        { id: "nobody.default", digest: ZERO_DIGEST, status: "missing" },
      ],
    });
  });

  test("a digest stored under another id is not available for this id", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    const res = await h.call("POST", "/v1/config-bundles/availability", {
      body: { refs: [{ id: "acme.renamed", digest: b.metadata.digest }] },
    });
    expect((await res.json()).results).toEqual([{ id: "acme.renamed", digest: b.metadata.digest, status: "missing" }]);
  });

  test("accepts 1000 refs and rejects 1001 with invalid_request", async () => {
    const h = harness();
    const refs = (n: number) => Array.from({ length: n }, () => ({ id: "acme.default", digest: ZERO_DIGEST }));
    const ok = await h.call("POST", "/v1/config-bundles/availability", { body: { refs: refs(1000) } });
    expect(ok.status).toBe(200);
    expect((await ok.json()).results).toHaveLength(1000);
    const details = await expectError(
      await h.call("POST", "/v1/config-bundles/availability", { body: { refs: refs(1001) } }),
      400,
      "invalid_request",
    );
    expect((details.errors as { path: string }[])[0]!.path).toBe("/refs");
  });

  test("rejects a body without refs, a non-JSON body and a text/plain body", async () => {
    const h = harness();
    await expectError(await h.call("POST", "/v1/config-bundles/availability", { body: {} }), 400, "invalid_request");
    await expectError(await h.call("POST", "/v1/config-bundles/availability", { body: "refs" }), 400, "invalid_json");
    await expectError(
      await h.call("POST", "/v1/config-bundles/availability", {
        body: '{"refs":[]}',
        headers: { "content-type": "text/plain" },
      }),
      415,
      "unsupported_media_type",
    );
  });
});

describe("DELETE /v1/config-bundles/{digest}", () => {
  test("removes the row and returns its summary", async () => {
    const h = harness();
    const b = makeBundle();
    const { bundle } = await (await put(h, b)).json();
    const res = await h.call("DELETE", bundlePath(b.metadata.digest));
    expect(res.status).toBe(200);
    expect((await res.json()).bundle).toEqual(bundle);
    expect(bundleRows(h)).toEqual([]);
    await expectError(await h.call("GET", bundlePath(b.metadata.digest)), 404, "config_bundle_missing");
    await expectError(await h.call("DELETE", bundlePath(b.metadata.digest)), 404, "config_bundle_missing");
  });

  test("refuses with config_bundle_in_use while a non-stopped Worker uses it, then deletes once stopped", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    expect((await h.call("POST", "/v1/workers", { body: coderRequest(b, { workerId: "w-in-use" }) })).status).toBe(201);
    await expectError(await h.call("DELETE", bundlePath(b.metadata.digest)), 409, "config_bundle_in_use");
    expect(bundleRows(h)).toHaveLength(1);

    expect((await h.call("POST", "/v1/workers/w-in-use/stop")).status).toBe(200);
    expect((await h.call("DELETE", bundlePath(b.metadata.digest))).status).toBe(200);
    expect(bundleRows(h)).toEqual([]);
  });
});

describe("POST /v1/workers", () => {
  test("creates a bundle-mode Worker (201) with the resolved spec and a row on disk", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    const res = await h.call("POST", "/v1/workers", {
      body: coderRequest(b, { workerId: "w-123", requiredCapabilities: ["shell"], displayName: "fixer" }),
    });
    expect(res.status).toBe(201);
    const { worker } = await res.json();
    expect(worker).toMatchObject({
      id: "w-123",
      status: "ready",
      mode: "bundle",
      profile: { kind: "named", name: "coder" },
      configBundle: ref(b),
      displayName: "fixer",
    });
    const spec = worker.spec;
    expect(spec.profile).toEqual({ name: "coder", chain: ["base", "coder"] });
    expect(spec.model).toEqual({
      name: "default",
      provider: "anthropic",
      model: "claude-sonnet",
      credential: { ref: "secret:anthropic-api-key", available: true },
    });
    expect(spec.prompts.map((p: { name: string }) => p.name)).toEqual(["base-system", "coder-system"]);
    expect(spec.tools).toEqual([{ name: "shell", policy: "ask" }]);
    expect(spec.workflows).toEqual(["review-loop"]);
    expect(spec.plugins).toEqual([{ name: "lint", version: "1.2.0", digest: LINT_DIGEST }]);
    expect(spec.mounts).toEqual([{ name: "repo", readOnly: false }]);
    expect(spec.network).toEqual(["github"]);
    expect(spec.shell).toBe(true);
    expect(spec.git).toBe(true);
    expect(spec.capabilities).toEqual(["shell"]);
    expect(spec.language).toBe("en");
    expect(spec.intent).toEqual({ goal: "Fix the flaky test" });
    expect(spec.specDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(workerRows(h)).toEqual([{ id: "w-123", status: "ready", bundle_digest: b.metadata.digest }]);
  });

  test("repeating a workerId with the same body returns 200 and the same Worker; another body is worker_conflict", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    const body = coderRequest(b, { workerId: "w-1" });
    const first = await (await h.call("POST", "/v1/workers", { body })).json();
    const again = await h.call("POST", "/v1/workers", { body: { ...body } });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(first);
    await expectError(
      await h.call("POST", "/v1/workers", { body: { ...body, intent: { goal: "Something else" } } }),
      409,
      "worker_conflict",
    );
    await expectError(
      await h.call("POST", "/v1/workers", {
        body: { workerId: "w-1", profile: { kind: "builtin", name: "companion" } },
      }),
      409,
      "worker_conflict",
    );
    expect(workerRows(h)).toHaveLength(1);
  });

  test("generates an id when workerId is absent", async () => {
    const h = harness();
    const body = { profile: { kind: "builtin", name: "companion" } };
    const a = await h.call("POST", "/v1/workers", { body });
    const c = await h.call("POST", "/v1/workers", { body });
    expect(a.status).toBe(201);
    expect(c.status).toBe(201);
    const ids = [(await a.json()).worker.id, (await c.json()).worker.id];
    expect(ids[0]).not.toBe(ids[1]);
    expect(
      workerRows(h)
        .map((r) => r.id)
        .sort(),
    ).toEqual([...ids].sort());
  });

  test("creates a builtin-mode Worker without a bundle", async () => {
    const h = harness();
    const res = await h.call("POST", "/v1/workers", { body: { profile: { kind: "builtin", name: "companion" } } });
    expect(res.status).toBe(201);
    const { worker } = await res.json();
    expect(worker.mode).toBe("builtin");
    expect(worker.configBundle).toBeUndefined();
    expect(worker.spec.profile).toEqual({ name: "companion", chain: ["builtin:companion"] });
    expect(workerRows(h)).toEqual([{ id: worker.id, status: "ready", bundle_digest: null }]);
  });

  test("resolves a bundle profile that extends a builtin", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    const res = await h.call("POST", "/v1/workers", {
      body: { profile: { kind: "named", name: "on-builtin" }, configBundle: ref(b) },
    });
    expect(res.status).toBe(201);
    expect((await res.json()).worker.spec.profile.chain).toEqual(["builtin:companion", "on-builtin"]);
  });
});

describe("POST /v1/workers errors", () => {
  async function rejects(h: Harness, body: unknown, status: number, code: string) {
    const details = await expectError(await h.call("POST", "/v1/workers", { body }), status, code);
    expect(workerRows(h)).toEqual([]);
    return details;
  }
  const named = (name: string, b: Bundle) => ({ profile: { kind: "named", name }, configBundle: ref(b) });

  test("invalid_request for a body outside the schema", async () => {
    const h = harness();
    for (const body of [
      {},
      { profile: { kind: "named" } },
      { profile: { kind: "builtin", name: "companion" }, surprise: 1 },
      { profile: { kind: "builtin", name: "companion" }, workerId: "bad id with spaces" },
      { profile: { kind: "named", name: "coder" }, configBundle: { id: "acme.default", digest: "nope" } },
    ]) {
      const details = await rejects(h, body, 400, "invalid_request");
      expect((details.errors as unknown[]).length).toBeGreaterThan(0);
    }
  });

  test("invalid_json and unsupported_media_type", async () => {
    const h = harness();
    await expectError(await h.call("POST", "/v1/workers", { body: "{profile" }), 400, "invalid_json");
    await expectError(
      await h.call("POST", "/v1/workers", { body: "{}", headers: { "content-type": "text/plain" } }),
      415,
      "unsupported_media_type",
    );
  });

  test("config_bundle_missing when neither the digest nor the id is stored", async () => {
    const h = harness();
    await rejects(
      h,
      { profile: { kind: "named", name: "coder" }, configBundle: { id: "acme.default", digest: ZERO_DIGEST } },
      404,
      "config_bundle_missing",
    );
  });

  test("config_bundle_digest_mismatch with availableDigests when the id is stored only under other digests", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    const details = await rejects(
      h,
      { profile: { kind: "named", name: "coder" }, configBundle: { id: "acme.default", digest: ZERO_DIGEST } },
      409,
      "config_bundle_digest_mismatch",
    );
    expect(details.availableDigests).toEqual([b.metadata.digest]);
  });

  test("invalid_profile: not in bundle, malformed selector, builtin with bundle, missing builtin root, builtin not offered", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    await rejects(h, named("nobody", b), 422, "invalid_profile");
    await rejects(h, { profile: { kind: "custom", name: "coder" }, configBundle: ref(b) }, 422, "invalid_profile");
    await rejects(h, { profile: { kind: "builtin", name: "companion" }, configBundle: ref(b) }, 422, "invalid_profile");
    await rejects(h, named("on-missing-builtin", b), 422, "invalid_profile");
    await rejects(h, { profile: { kind: "builtin", name: "no-such-builtin" } }, 422, "invalid_profile");

    const limited = harness(hostPolicy({ builtinProfiles: ["companion"] }));
    await rejects(limited, { profile: { kind: "builtin", name: "reviewer" } }, 422, "invalid_profile");
  });

  test("bundle_required: a named profile without a bundle, or any fallback when the host requires bundles", async () => {
    const h = harness();
    await rejects(h, { profile: { kind: "named", name: "coder" } }, 422, "bundle_required");
    const strict = harness(hostPolicy({ requireBundle: true }));
    await rejects(strict, { profile: { kind: "builtin", name: "companion" } }, 422, "bundle_required");
    const b = makeBundle();
    await stored(strict, b);
    expect((await strict.call("POST", "/v1/workers", { body: named("reviewer", b) })).status).toBe(201);
  });

  test("secret_unavailable: a required secret ref or the model credential is not on the host", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    // github-token points at a file that does not exist on this host.
    await rejects(h, named("needs-github-token", b), 422, "secret_unavailable");
    process.env[SECRET_ENV] = "";
    await rejects(h, named("base", b), 422, "secret_unavailable");
    const noSecrets = harness(hostPolicy({ secrets: {} }));
    await stored(noSecrets, b);
    await rejects(noSecrets, named("coder", b), 422, "secret_unavailable");
  });

  test("grant_denied: a mount, network, shell or git grant the host does not give", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    await rejects(h, named("needs-docs-mount", b), 403, "grant_denied");
    await rejects(h, named("needs-slack", b), 403, "grant_denied");
    for (const off of [{ shell: false }, { git: false }, { mounts: {} }, { network: [] }]) {
      const host = harness(hostPolicy(off));
      await stored(host, b);
      await rejects(host, named("coder", b), 403, "grant_denied");
    }
  });

  test("plugin_denied: a plugin digest the host does not allow", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    await rejects(h, named("needs-other-plugin", b), 403, "plugin_denied");
    const none = harness(hostPolicy({ plugins: { allowDigests: [] } }));
    await stored(none, b);
    await rejects(none, named("coder", b), 403, "plugin_denied");
    const all = harness(hostPolicy({ plugins: { allowAll: true } }));
    await stored(all, b);
    expect((await all.call("POST", "/v1/workers", { body: named("needs-other-plugin", b) })).status).toBe(201);
  });

  test("capability_denied: a requiredCapabilities entry or a required capability_grant the host lacks", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    await rejects(h, named("needs-browser", b), 403, "capability_denied");
    await rejects(
      h,
      { profile: { kind: "builtin", name: "companion" }, requiredCapabilities: ["browser"] },
      403,
      "capability_denied",
    );
    const browser = harness(hostPolicy({ capabilities: ["browser"] }));
    await stored(browser, b);
    expect((await browser.call("POST", "/v1/workers", { body: named("needs-browser", b) })).status).toBe(201);
  });
});

describe("GET /v1/workers and /v1/workers/{id}, POST /v1/workers/{id}/stop", () => {
  test("lists, gets, and stops Workers idempotently", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    const created = [
      (await (await h.call("POST", "/v1/workers", { body: coderRequest(b, { workerId: "w-a" }) })).json()).worker,
      (
        await (
          await h.call("POST", "/v1/workers", {
            body: { workerId: "w-b", profile: { kind: "builtin", name: "reviewer" } },
          })
        ).json()
      ).worker,
    ];

    const list = await h.call("GET", "/v1/workers");
    expect(list.status).toBe(200);
    const { workers } = await list.json();
    expect([...workers].sort((x: { id: string }, y: { id: string }) => x.id.localeCompare(y.id))).toEqual(created);

    const one = await h.call("GET", "/v1/workers/w-a");
    expect(one.status).toBe(200);
    expect((await one.json()).worker).toEqual(created[0]);

    const stop = await h.call("POST", "/v1/workers/w-a/stop");
    expect(stop.status).toBe(200);
    const stopped = (await stop.json()).worker;
    expect(stopped).toEqual({ ...created[0], status: "stopped" });
    const again = await h.call("POST", "/v1/workers/w-a/stop");
    expect(again.status).toBe(200);
    expect((await again.json()).worker).toEqual(stopped);
    expect((await (await h.call("GET", "/v1/workers/w-a")).json()).worker.status).toBe("stopped");
    expect(workerRows(h).map((r) => [r.id, r.status])).toEqual([
      ["w-a", "stopped"],
      ["w-b", "ready"],
    ]);
  });

  test("a stopped Worker survives a restart as stopped", async () => {
    const h = harness();
    await h.call("POST", "/v1/workers", { body: { workerId: "w-s", profile: { kind: "builtin", name: "companion" } } });
    await h.call("POST", "/v1/workers/w-s/stop");
    expect((await (await h.reopen().call("GET", "/v1/workers/w-s")).json()).worker.status).toBe("stopped");
  });

  test("unknown ids are worker_not_found for get and stop", async () => {
    const h = harness();
    await expectError(await h.call("GET", "/v1/workers/w-nope"), 404, "worker_not_found");
    await expectError(await h.call("POST", "/v1/workers/w-nope/stop"), 404, "worker_not_found");
    await expectError(await h.call("GET", "/v1/workers/bad%20id"), 404, "worker_not_found");
    expect(workerRows(h)).toEqual([]);
  });
});

describe("config_bundle_corrupt", () => {
  const TAMPER_FROM = "careful assistant";
  const TAMPER_TO = "sneakily edited";

  function tamper(h: Harness, digest: string, recomputeCheck: boolean) {
    const [row] = onDisk<{ body: Uint8Array }>(h.dataDir, "SELECT body FROM bundles WHERE digest = ?", digest);
    const text = new TextDecoder().decode(row!.body);
    expect(text).toContain(TAMPER_FROM);
    const body = new TextEncoder().encode(text.replace(TAMPER_FROM, TAMPER_TO));
    if (recomputeCheck) {
      onDisk(
        h.dataDir,
        "UPDATE bundles SET body = ?, check_hash = ? WHERE digest = ?",
        body,
        Bun.hash(body).toString(16),
        digest,
      );
    } else {
      onDisk(h.dataDir, "UPDATE bundles SET body = ? WHERE digest = ?", body, digest);
    }
  }

  async function expectQuarantined(h: Harness, b: Bundle) {
    const res = await h.call("GET", bundlePath(b.metadata.digest));
    const raw = await res.clone().text();
    expect(await expectError(res, 500, "config_bundle_corrupt")).toEqual({});
    expect(raw).not.toContain(TAMPER_TO);
    expect(raw).not.toContain("content");
    expect(bundleRows(h)).toEqual([{ digest: b.metadata.digest, id: b.metadata.id, revision: 1, quarantined: 1 }]);

    // Quarantined stays refused, even to a conditional request.
    const cond = await h.call("GET", bundlePath(b.metadata.digest), { headers: { "if-none-match": "*" } });
    await expectError(cond, 500, "config_bundle_corrupt");
    const head = await h.call("HEAD", bundlePath(b.metadata.digest));
    expect(head.status).not.toBe(200);
    expect(await head.text()).toBe("");

    const avail = await h.call("POST", "/v1/config-bundles/availability", { body: { refs: [ref(b)] } });
    expect((await avail.json()).results).toEqual([{ ...ref(b), status: "missing" }]);
    expect((await (await h.call("GET", "/v1/config-bundles")).json()).bundles).toEqual([]);
    const info = (await (await h.call("GET", "/v1/runtime")).json()).runtime;
    expect(info.counts).toMatchObject({ bundles: 0, quarantined: 1 });
  }

  for (const recompute of [false, true]) {
    const how = recompute ? "with its checksum recomputed" : "with its checksum kept";
    test(`a fresh Runtime refuses a row tampered ${how}`, async () => {
      const first = harness();
      const b = makeBundle();
      await stored(first, b);
      tamper(first, b.metadata.digest, recompute);
      await expectQuarantined(first.reopen(), b);
    });

    test(`a Runtime that already served the row refuses it once tampered ${how}`, async () => {
      const h = harness();
      const b = makeBundle();
      await stored(h, b);
      expect((await h.call("GET", bundlePath(b.metadata.digest))).status).toBe(200);
      tamper(h, b.metadata.digest, recompute);
      await expectQuarantined(h, b);
    });
  }

  test("a Worker cannot be created from a quarantined bundle", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    tamper(h, b.metadata.digest, false);
    const fresh = h.reopen();
    await expectError(await fresh.call("POST", "/v1/workers", { body: coderRequest(b) }), 500, "config_bundle_corrupt");
    expect(workerRows(fresh)).toEqual([]);
  });

  test("a PUT of the verified bundle repairs a quarantined row", async () => {
    const h = harness();
    const b = makeBundle();
    await stored(h, b);
    tamper(h, b.metadata.digest, false);
    const fresh = h.reopen();
    await expectError(await fresh.call("GET", bundlePath(b.metadata.digest)), 500, "config_bundle_corrupt");
    expect((await put(fresh, b)).status).toBe(201);
    const res = await fresh.call("GET", bundlePath(b.metadata.digest));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(b)));
    expect(bundleRows(fresh)[0]!.quarantined).toBe(0);
  });
});

describe("routing errors", () => {
  test("an unknown route is not_found in the envelope", async () => {
    const h = harness();
    await expectError(await h.call("GET", "/v1/nothing-here"), 404, "not_found");
    await expectError(await h.call("GET", "/nothing-here", { anonymous: true }), 404, "not_found");
    await expectError(await h.call("POST", "/v1/workers/w-1/start"), 404, "not_found");
  });

  test("a known path with another method is method_not_allowed with Allow", async () => {
    const h = harness();
    const b = makeBundle();
    const patch = await h.call("PATCH", bundlePath(b.metadata.digest), { body: {} });
    expect(patch.headers.get("allow")).toContain("PUT");
    await expectError(patch, 405, "method_not_allowed");
    await expectError(await h.call("DELETE", "/v1/workers"), 405, "method_not_allowed");
    await expectError(await h.call("PUT", "/v1/workers/w-1", { body: {} }), 405, "method_not_allowed");
    await expectError(await h.call("POST", "/healthz", { body: {} }), 405, "method_not_allowed");
    expect(bundleRows(h)).toEqual([]);
  });
});

describe("internal", () => {
  test("an unexpected store failure is 500 internal with only a requestId", async () => {
    const h = harness();
    onDisk(h.dataDir, "DROP TABLE workers");
    const res = await h.call("GET", "/v1/workers");
    const raw = await res.clone().text();
    const details = await expectError(res, 500, "internal");
    expect(Object.keys(details)).toEqual(["requestId"]);
    expect(details.requestId).toMatch(/^[0-9a-f-]{36}$/);
    for (const leak of ["workers", "table", "SQLite", "sqlite", h.dataDir, "at ", ".ts"])
      expect(raw).not.toContain(leak);
  });
});

describe("GET /openapi.json", () => {
  test("documents the /v1 paths", async () => {
    const h = harness();
    const res = await h.call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const doc = await res.json();
    expect(doc.openapi).toMatch(/^3\./);
    const paths = Object.keys(doc.paths);
    for (const p of [
      "/v1/runtime",
      "/v1/config-bundles",
      "/v1/config-bundles/{digest}",
      "/v1/config-bundles/availability",
      "/v1/workers",
      "/v1/workers/{id}",
      "/v1/workers/{id}/stop",
    ]) {
      expect(paths).toContain(p);
    }
    expect(Object.keys(doc.paths["/v1/config-bundles/{digest}"])).toEqual(
      expect.arrayContaining(["get", "put", "delete"]),
    );
  });
});

describe("never echoes secrets, host paths, the token or forbidden values", () => {
  test("no response body or header of any endpoint carries a sentinel", async () => {
    const h = harness();
    const b = makeBundle();
    const responses: Response[] = [];
    const send = async (method: string, path: string, init?: Parameters<Harness["call"]>[2]) => {
      const res = await h.call(method, path, init);
      responses.push(res);
      return res;
    };

    await send("GET", "/healthz", { anonymous: true });
    await send("GET", "/v1/runtime");
    await send("GET", "/openapi.json");
    await send("PUT", bundlePath(b.metadata.digest), { body: b });
    await send("PUT", bundlePath(b.metadata.digest), { body: b });
    await send("PUT", bundlePath(ZERO_DIGEST), { body: b });
    await send("PUT", bundlePath(ZERO_DIGEST), { body: "{" });
    await send("PUT", bundlePath(ZERO_DIGEST), { body: "x", headers: { "content-type": "text/plain" } });
    await send("GET", bundlePath(b.metadata.digest));
    await send("GET", bundlePath(b.metadata.digest), { headers: { "if-none-match": `"${b.metadata.digest}"` } });
    await send("HEAD", bundlePath(b.metadata.digest));
    await send("GET", bundlePath(ZERO_DIGEST));
    await send("GET", "/v1/config-bundles?workspaceId=acme");
    await send("POST", "/v1/config-bundles/availability", {
      body: { refs: [ref(b), { id: "acme.default", digest: ZERO_DIGEST }] },
    });
    await send("POST", "/v1/workers", { body: coderRequest(b, { workerId: "w-1" }) });
    await send("POST", "/v1/workers", { body: coderRequest(b, { workerId: "w-1", displayName: "other" }) });
    for (const name of [
      "needs-github-token",
      "needs-docs-mount",
      "needs-slack",
      "needs-browser",
      "needs-other-plugin",
      "nobody",
    ]) {
      await send("POST", "/v1/workers", { body: { profile: { kind: "named", name }, configBundle: ref(b) } });
    }
    await send("POST", "/v1/workers", { body: { profile: { kind: "named", name: "coder" } } });
    await send("GET", "/v1/workers");
    await send("GET", "/v1/workers/w-1");
    await send("GET", "/v1/workers/w-none");
    await send("DELETE", bundlePath(b.metadata.digest));
    await send("POST", "/v1/workers/w-1/stop");
    await send("DELETE", bundlePath(b.metadata.digest));
    await send("GET", "/v1/runtime", { anonymous: true });
    await send("GET", "/v1/runtime", { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } });
    await send("GET", "/v1/nope");
    await send("PATCH", bundlePath(b.metadata.digest), { body: {} });
    process.env[SECRET_ENV] = "";
    await send("POST", "/v1/workers", { body: coderRequest(b) });
    onDisk(h.dataDir, "DROP TABLE workers");
    await send("GET", "/v1/workers");

    const statuses = new Set(responses.map((r) => r.status));
    for (const s of [200, 201, 304, 400, 401, 403, 404, 405, 409, 415, 422, 500]) expect(statuses).toContain(s);
    const sentinels = [
      SECRET_VALUE,
      SECRET_ENV,
      SECRET_FILE,
      MOUNT_PATH,
      "sentinel-host-mount",
      TOKEN,
      TOKEN.slice(0, -1),
      h.dataDir,
    ];
    for (const res of responses) {
      const text = `${[...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n")}\n${await res.text()}`;
      for (const s of sentinels) expect(text).not.toContain(s);
    }
  });

  test("a credential in any bundle field is reported by pointer and rule, never by value", async () => {
    const h = harness();
    const key = "AKIAZXCVBNMASDFGHJKL";
    const placements: [(c: Content) => void, string][] = [
      [
        (c) => {
          c.workspace.name = `Acme ${key}`;
        },
        "/content/workspace/name",
      ],
      [
        (c) => {
          c.profiles[0]!.description = `uses ${key} for s3`;
        },
        "/content/profiles/0/description",
      ],
      [
        (c) => {
          c.prompts![1]!.text = `The key is ${key}.`;
        },
        "/content/prompts/1/text",
      ],
      [
        (c) => {
          c.models![0]!.options = { region: key };
        },
        "/content/models/0/options/region",
      ],
      [
        (c) => {
          c.declarations![0]!.name = key;
        },
        "/content/declarations/0/name",
      ],
    ];
    for (const [edit, pointer] of placements) {
      const b = withContent(edit);
      const res = await put(h, b);
      const raw = await res.clone().text();
      expect(await expectError(res, 422, "forbidden_content")).toEqual({ pointer, rule: "aws_access_key_id" });
      expect(raw).not.toContain(key);
    }
    expect(bundleRows(h)).toEqual([]);
  });

  test("a credential used as an object key is reported at its object, not through the pointer", async () => {
    const h = harness();
    const key = "AKIAZXCVBNMASDFGHJKL";
    const b = withContent((c) => {
      c.workspace.project!.labels = { [key]: "x" };
    });
    const res = await put(h, b);
    const raw = await res.clone().text();
    expect(await expectError(res, 422, "forbidden_content")).toEqual({
      pointer: "/content/workspace/project/labels",
      rule: "aws_access_key_id",
    });
    expect(raw).not.toContain(key);
  });
});
