/**
 * Invariant 4: embedded and remote runtimes obey one contract. One suite, written once
 * against the `RuntimeClient` interface, runs against an `EmbeddedClient` over an
 * in-process `Runtime` and against a `RemoteClient` talking to a real
 * `dist/bundlesync --mode runtime` process with the same host policy file. Every outcome
 * (normalised for ids and clocks) is recorded, and the last block checks that both
 * clients recorded exactly the same outcomes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EmbeddedClient, RemoteClient, type RuntimeClient } from "../../src/backend/clients.ts";
import type { Bundle, Content } from "../../src/bundle/model.ts";
import { BundlesyncError, messageFor } from "../../src/http/errors.ts";
import { loadHostPolicy } from "../../src/runtime/policy.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { acme, CREATED_AT } from "../fixtures/bundles.ts";
import { cleanup, makeBundle, type Server, spawn, tempDir } from "./harness.ts";

const TOKEN = "contract-runtime-token-0123456789";
const LINT_DIGEST = `sha256:${"ab".repeat(32)}`;
const OTHER_PLUGIN_DIGEST = `sha256:${"cd".repeat(32)}`;
const UNKNOWN_DIGEST = `sha256:${"0".repeat(64)}`;
const SECRET_VALUE = "contract-secret-value-never-shown-42";
const MAX_BUNDLE_BYTES = 32 * 1024;
const AWS_KEY = "AKIAIOSFODNN7EXAMPLE";
const HOST_PATH = "/home/alice/models/secret-model";

// ---------------------------------------------------------------------------------------
// Host policies (one file each, shared by both clients)

const policyDir = tempDir("bundlesync-contract-policy-");
mkdirSync(join(policyDir, "secrets"));
mkdirSync(join(policyDir, "mnt", "repo"), { recursive: true });
writeFileSync(join(policyDir, "secrets", "anthropic-api-key"), SECRET_VALUE);
const POLICY_FILE = join(policyDir, "host-policy.json");
writeFileSync(
  POLICY_FILE,
  JSON.stringify({
    requireBundle: false,
    builtinProfiles: ["companion", "reviewer"],
    secrets: {
      "anthropic-api-key": { file: "secrets/anthropic-api-key" },
      "github-token": { file: "secrets/github-token-not-on-this-host" },
    },
    mounts: { repo: { path: "mnt/repo", readOnly: false } },
    network: ["github"],
    shell: true,
    git: false,
    capabilities: ["shell", "browser"],
    plugins: { allowDigests: [LINT_DIGEST] },
    limits: { maxBundleBytes: MAX_BUNDLE_BYTES },
  }),
);
const STRICT_POLICY_FILE = join(policyDir, "strict-policy.yaml");
writeFileSync(STRICT_POLICY_FILE, "requireBundle: true\n");

// ---------------------------------------------------------------------------------------
// Bundles (built once, so both clients see byte-identical input)

const prompt = (name: string, text: string) => ({ name, text });

/** One profile per host-policy check, so a test picks its failure by profile name. */
function acmeContent(coderText: string): Content {
  return {
    workspace: acme.workspace({ description: "Acme agents", labels: { team: "platform" } }),
    language: acme.language(),
    profiles: [
      { name: "base", description: "root", model: "default", prompts: ["base-system"], requires: ["anthropic"] },
      acme.coder({ requires: ["repo", "shell", "github"] }),
      { name: "reviewer", extends: "builtin:companion", prompts: ["base-system"] },
      { name: "on-missing-builtin", extends: "builtin:coder" },
      { name: "needs-github-token", requires: ["github-token"] },
      { name: "uses-gh-model", model: "gh" },
      { name: "needs-docs", requires: ["docs"] },
      { name: "needs-slack", requires: ["slack"] },
      { name: "needs-git", requires: ["git"] },
      { name: "needs-gpu", requires: ["gpu"] },
      { name: "needs-other-plugin", plugins: ["other"] },
      { name: "needs-other-grant", requires: ["other-grant"] },
    ],
    prompts: [prompt("base-system", "You are careful."), prompt("coder-system", coderText)],
    workflows: [acme.reviewLoop()],
    tools: [acme.shellTool()],
    plugins: [
      acme.plugin("lint", "1.2.0", LINT_DIGEST, { grants: ["network:github"] }),
      acme.plugin("other", "0.1.0", OTHER_PLUGIN_DIGEST),
    ],
    models: [
      acme.defaultModel(),
      { name: "gh", provider: "github", model: "copilot", credential: "secret:github-token" },
    ],
    declarations: acme.hostCheckDeclarations({ capabilities: ["gpu"], pluginGrants: { "other-grant": "other" } }),
  };
}

const v1 = makeBundle({
  nonce: "v1",
  id: "acme.default",
  workspaceId: "acme",
  revision: 1,
  createdAt: CREATED_AT,
  content: acmeContent("Fix bugs."),
});
const v2 = makeBundle({
  nonce: "v2",
  id: "acme.default",
  workspaceId: "acme",
  revision: 2,
  createdAt: CREATED_AT,
  content: acmeContent("Fix bugs with tests."),
});
// Revision 3 so "newest revision first" has no ties.
const other = makeBundle({ nonce: "other", id: "other.default", workspaceId: "other", revision: 3 });

const badBundles = {
  unsupportedSchema: (() => {
    const b = structuredClone(v1) as Bundle;
    b.schemaVersion = 2;
    return b;
  })(),
  tampered: (() => {
    const b = structuredClone(v1) as Bundle;
    b.content.prompts![0]!.text = "Edited after sealing.";
    delete b.content.prompts![0]!.digest;
    return b;
  })(),
  awsKeyInPrompt: makeBundle({
    nonce: "aws",
    id: "bad.aws",
    workspaceId: "bad",
    content: {
      prompts: [prompt("base-system", `Use ${AWS_KEY} to deploy.`), prompt("assistant-system", "Answer.")],
    },
  }),
  hostPathInProfile: makeBundle({
    nonce: "path",
    id: "bad.path",
    workspaceId: "bad",
    content: { profiles: [{ name: "base", model: HOST_PATH }] },
  }),
  unknownDeclarationKind: makeBundle({
    nonce: "decl",
    id: "bad.decl",
    workspaceId: "bad",
    content: { declarations: [{ kind: "quantum_grant", name: "q", ref: "quantum:q" }] },
  }),
  danglingRequires: makeBundle({
    nonce: "dangling",
    id: "bad.dangling",
    workspaceId: "bad",
    content: { profiles: [{ name: "base", requires: ["nothing-declares-this"] }] },
  }),
  tooLarge: makeBundle({
    nonce: "big",
    id: "acme.big",
    workspaceId: "acme",
    content: {
      prompts: [prompt("base-system", "x".repeat(MAX_BUNDLE_BYTES * 2)), prompt("assistant-system", "Answer.")],
    },
  }),
};

const ref = (b: Bundle) => ({ id: b.metadata.id, digest: b.metadata.digest });
const named = (name: string, extra: Record<string, unknown> = {}) => ({
  profile: { kind: "named", name },
  configBundle: ref(v1),
  ...extra,
});
const CODER_REQUEST = {
  workerId: "w-coder",
  profile: { kind: "named", name: "coder" },
  configBundle: ref(v1),
  intent: { goal: "Fix the flaky test", initialInput: "see CI run 42" },
  requiredCapabilities: ["shell"],
  displayName: "flaky-test fixer",
};
const BUILTIN_REQUEST = { workerId: "w-builtin", profile: { kind: "builtin", name: "companion" } };

// ---------------------------------------------------------------------------------------
// Outcome recording

type Outcome =
  | { ok: unknown }
  | { error: { bundlesync: boolean; code?: string; message?: string; details?: unknown; name: string } };

const recorded: Record<string, Map<string, Outcome>> = {};
const runtimeIds: Record<string, string> = {};
/** Workers are listed by creation time, which differs by nature between two runtimes. */
const byId = <T extends { id: string }>(list: T[]) => [...list].sort((a, b) => (a.id < b.id ? -1 : 1));
/** Each runtime has its own id by nature. */
const withoutId = (info: { id: string }) => ({ ...info, id: "<runtime-id>" });

/** Values that differ by nature between two runtimes: clocks and the runtime's own id. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === "createdAt" || k === "storedAt" ? (typeof v === "string" ? "<time>" : v) : normalise(v);
  }
  return out;
}

async function settle(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await fn() };
  } catch (e) {
    if (e instanceof BundlesyncError) {
      return { error: { bundlesync: true, name: e.name, code: e.code, message: e.message, details: e.details } };
    }
    return { error: { bundlesync: false, name: e instanceof Error ? e.name : typeof e } };
  }
}

function recorder(label: string) {
  const map = new Map<string, Outcome>();
  recorded[label] = map;
  const keep = (key: string, o: Outcome) => {
    if (map.has(key)) throw new Error(`outcome key used twice: ${key}`);
    map.set(key, "ok" in o ? { ok: normalise(o.ok) } : o);
  };
  return {
    /** Runs `fn`, expects success, records the normalised result, returns the raw one. */
    async ok<T>(key: string, fn: () => Promise<T>, tidy: (v: T) => unknown = (v) => v): Promise<T> {
      const o = await settle(fn);
      keep(key, "ok" in o ? { ok: tidy(o.ok as T) } : o);
      if ("error" in o) throw new Error(`${key}: expected success, got ${JSON.stringify(o.error)}`);
      return o.ok as T;
    },
    /** Runs `fn`, expects a BundlesyncError with `code` (and `details` when given), records it. */
    async fails(
      key: string,
      fn: () => Promise<unknown>,
      code: string,
      details?: Record<string, unknown>,
    ): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
      const o = await settle(fn);
      keep(key, o);
      expect("error" in o ? o.error : { unexpectedSuccess: o.ok }).toMatchObject({ bundlesync: true, code });
      const err = (o as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
      expect(err.message).toBe(messageFor(code as never));
      if (details !== undefined) expect(err.details).toEqual(details);
      return err;
    },
  };
}

// ---------------------------------------------------------------------------------------
// The suite

type Factory = (policyFile: string) => Promise<RuntimeClient>;

function contractSuite(label: string, factory: Factory) {
  describe(`RuntimeClient contract: ${label}`, () => {
    let rt: RuntimeClient;
    let strict: RuntimeClient;
    const r = recorder(label);

    beforeAll(async () => {
      rt = await factory(POLICY_FILE);
      strict = await factory(STRICT_POLICY_FILE);
    });

    // ---- info -----------------------------------------------------------------------

    test("info shows id, version, zero counts and host policy names, never paths or secret values", async () => {
      const info = await r.ok("info.fresh", () => rt.info(), withoutId);
      runtimeIds[label] = info.id;
      expect(info.id).toEqual(expect.any(String));
      expect(info.version).toEqual(expect.any(String));
      expect(info.counts).toEqual({ bundles: 0, quarantined: 0, workers: 0, activeWorkers: 0 });
      expect(info.policy).toMatchObject({
        requireBundle: false,
        builtinProfiles: ["companion", "reviewer"],
        secrets: ["anthropic-api-key", "github-token"],
        mounts: ["repo"],
        network: ["github"],
        shell: true,
        git: false,
        capabilities: ["shell", "browser"],
        plugins: { allowAll: false, allowDigests: [LINT_DIGEST] },
      });
      const text = JSON.stringify(info);
      for (const leak of [policyDir, "mnt/repo", "secrets/", SECRET_VALUE]) expect(text).not.toContain(leak);
    });

    // ---- bundles --------------------------------------------------------------------

    test("putBundle stores a new bundle (created) and returns its summary", async () => {
      const res = await r.ok("put.v1.new", () => rt.putBundle(v1.metadata.digest, structuredClone(v1)));
      expect(res.created).toBe(true);
      expect(res.bundle).toEqual({
        id: "acme.default",
        digest: v1.metadata.digest,
        revision: 1,
        workspaceId: "acme",
        createdAt: CREATED_AT,
        provenance: v1.metadata.provenance,
        profileCount: v1.content.profiles.length,
        declarationCount: v1.content.declarations!.length,
        sizeBytes: expect.any(Number),
        storedAt: expect.any(String),
      });
      expect(res.bundle.sizeBytes).toBeGreaterThan(0);
    });

    test("putBundle of an already stored bundle is not created again and returns the same summary", async () => {
      const first = await rt.listBundles({ id: "acme.default" });
      const again = await r.ok("put.v1.again", () => rt.putBundle(v1.metadata.digest, structuredClone(v1)));
      expect(again.created).toBe(false);
      expect(again.bundle).toEqual(first[0]!);
      const asText = await r.ok("put.v1.again-as-text", () => rt.putBundle(v1.metadata.digest, JSON.stringify(v1)));
      expect(asText).toEqual(again);
      expect(await rt.listBundles({ id: "acme.default" })).toHaveLength(1);
    });

    test("putBundle stores a second revision of the same id and a bundle of another workspace", async () => {
      expect((await r.ok("put.v2", () => rt.putBundle(v2.metadata.digest, v2))).created).toBe(true);
      expect((await r.ok("put.other", () => rt.putBundle(other.metadata.digest, other))).created).toBe(true);
    });

    test("getBundle returns the full stored bundle, unchanged", async () => {
      expect(await r.ok("get.v1", () => rt.getBundle(v1.metadata.digest))).toEqual(v1);
      expect(await r.ok("get.other", () => rt.getBundle(other.metadata.digest))).toEqual(other);
    });

    test("hasBundle is true for a stored digest and false for an unknown one", async () => {
      expect(await r.ok("has.v1", () => rt.hasBundle(v1.metadata.digest))).toBe(true);
      expect(await r.ok("has.unknown", () => rt.hasBundle(UNKNOWN_DIGEST))).toBe(false);
    });

    test("listBundles lists newest revision first and filters by workspaceId and id", async () => {
      const digests = (l: { digest: string }[]) => l.map((b) => b.digest);
      const all = await r.ok("list.all", () => rt.listBundles());
      expect(digests(all)).toEqual([other.metadata.digest, v2.metadata.digest, v1.metadata.digest]);
      const acme = await r.ok("list.workspace", () => rt.listBundles({ workspaceId: "acme" }));
      expect(digests(acme)).toEqual([v2.metadata.digest, v1.metadata.digest]);
      const byId = await r.ok("list.id", () => rt.listBundles({ id: "other.default" }));
      expect(digests(byId)).toEqual([other.metadata.digest]);
      const both = await r.ok("list.both", () => rt.listBundles({ workspaceId: "other", id: "acme.default" }));
      expect(both).toEqual([]);
      expect(await r.ok("list.none", () => rt.listBundles({ workspaceId: "nobody" }))).toEqual([]);
    });

    test("availability reports available, missing and digest_mismatch with the stored digests", async () => {
      const results = await r.ok("availability.mixed", () =>
        rt.availability([
          ref(v1),
          { id: "acme.default", digest: UNKNOWN_DIGEST },
          { id: "ghost.default", digest: UNKNOWN_DIGEST },
          { id: "other.default", digest: v1.metadata.digest },
        ]),
      );
      expect(results).toEqual([
        { ...ref(v1), status: "available" },
        {
          id: "acme.default",
          digest: UNKNOWN_DIGEST,
          status: "digest_mismatch",
          availableDigests: [v2.metadata.digest, v1.metadata.digest],
        },
        { id: "ghost.default", digest: UNKNOWN_DIGEST, status: "missing" },
        {
          id: "other.default",
          digest: v1.metadata.digest,
          status: "digest_mismatch",
          availableDigests: [other.metadata.digest],
        },
      ]);
      expect(await r.ok("availability.empty", () => rt.availability([]))).toEqual([]);
    });

    // ---- workers --------------------------------------------------------------------

    test("createWorker in bundle mode resolves the profile chain and the host policy", async () => {
      const { created, worker } = await r.ok("worker.bundle", () => rt.createWorker(structuredClone(CODER_REQUEST)));
      expect(created).toBe(true);
      expect(worker).toMatchObject({
        id: "w-coder",
        status: "ready",
        mode: "bundle",
        profile: { kind: "named", name: "coder" },
        configBundle: ref(v1),
        displayName: "flaky-test fixer",
        createdAt: expect.any(String),
      });
      expect(worker.spec).toMatchObject({
        profile: { name: "coder", chain: ["base", "coder"] },
        model: { name: "default", credential: { ref: "secret:anthropic-api-key", available: true } },
        prompts: [{ name: "base-system" }, { name: "coder-system" }],
        tools: [{ name: "shell", policy: "ask" }],
        workflows: ["review-loop"],
        plugins: [{ name: "lint", version: "1.2.0", digest: LINT_DIGEST }],
        mounts: [{ name: "repo", readOnly: false }],
        network: ["github"],
        shell: true,
        git: false,
        capabilities: ["shell"],
        language: "en",
        intent: CODER_REQUEST.intent,
        specDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      });
      const text = JSON.stringify(worker);
      for (const leak of [policyDir, "mnt/repo", SECRET_VALUE]) expect(text).not.toContain(leak);
    });

    test("createWorker with the same workerId and body returns the same worker, not created", async () => {
      const first = await rt.getWorker("w-coder");
      const again = await r.ok("worker.bundle.again", () => rt.createWorker(structuredClone(CODER_REQUEST)));
      expect(again).toEqual({ created: false, worker: first });
    });

    test("createWorker with the same workerId and a different body is worker_conflict", async () => {
      await r.fails(
        "worker.conflict",
        () => rt.createWorker({ ...structuredClone(CODER_REQUEST), displayName: "someone else" }),
        "worker_conflict",
        {},
      );
    });

    test("createWorker with a builtin selector and no bundle runs in builtin mode", async () => {
      const { created, worker } = await r.ok("worker.builtin", () => rt.createWorker(structuredClone(BUILTIN_REQUEST)));
      expect(created).toBe(true);
      expect(worker).toMatchObject({ id: "w-builtin", status: "ready", mode: "builtin" });
      expect(worker.configBundle).toBeUndefined();
      expect(worker.spec.profile).toEqual({ name: "companion", chain: ["builtin:companion"] });
    });

    test("getWorker and listWorkers show the stored workers", async () => {
      const w = await r.ok("worker.get", () => rt.getWorker("w-builtin"));
      expect(w).toMatchObject({ id: "w-builtin", mode: "builtin", status: "ready" });
      const list = await r.ok("worker.list", () => rt.listWorkers(), byId);
      expect(list.map((x) => x.id).sort()).toEqual(["w-builtin", "w-coder"]);
    });

    test("getWorker and stopWorker of an unknown id are worker_not_found", async () => {
      await r.fails("worker.get.unknown", () => rt.getWorker("w-nobody"), "worker_not_found", {});
      await r.fails("worker.stop.unknown", () => rt.stopWorker("w-nobody"), "worker_not_found", {});
      await r.fails("worker.get.malformed", () => rt.getWorker("not a valid id"), "worker_not_found", {});
    });

    // ---- store-time validation ------------------------------------------------------

    test("putBundle of a body that does not fit the schema is invalid_request with error paths", async () => {
      const err = await r.fails(
        "put.invalid-shape",
        () => rt.putBundle(UNKNOWN_DIGEST, { schemaVersion: 1, metadata: v1.metadata } as never),
        "invalid_request",
      );
      expect(err.details.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: "/content" })]));
    });

    test("putBundle, getBundle and deleteBundle with a malformed digest are invalid_request", async () => {
      const errors = [{ path: "/digest", message: expect.any(String) }];
      await r.fails("put.bad-digest", () => rt.putBundle("sha256:xyz", v1), "invalid_request", { errors });
      await r.fails("get.bad-digest", () => rt.getBundle("md5:abc"), "invalid_request", { errors });
      await r.fails("delete.bad-digest", () => rt.deleteBundle("sha256:XYZ"), "invalid_request", { errors });
    });

    test("hasBundle with a malformed digest is invalid_request", async () => {
      await r.fails("has.bad-digest", () => rt.hasBundle("sha256:xyz"), "invalid_request", {
        errors: [{ path: "/digest", message: expect.any(String) }],
      });
    });

    test("putBundle of text that is not JSON is invalid_json, of empty text invalid_request", async () => {
      await r.fails("put.not-json", () => rt.putBundle(v1.metadata.digest, "{not json"), "invalid_json", {});
      const err = await r.fails("put.empty-text", () => rt.putBundle(v1.metadata.digest, ""), "invalid_request");
      expect(err.details.errors).toEqual([{ path: "/", message: expect.any(String) }]);
    });

    test("putBundle of an unsupported schemaVersion is unsupported_schema_version", async () => {
      const b = badBundles.unsupportedSchema;
      await r.fails("put.schema-version", () => rt.putBundle(b.metadata.digest, b), "unsupported_schema_version", {
        pointer: "/schemaVersion",
        supported: [1],
      });
    });

    test("putBundle whose content no longer matches metadata.digest is config_bundle_digest_mismatch", async () => {
      const b = badBundles.tampered;
      await r.fails("put.digest-tampered", () => rt.putBundle(b.metadata.digest, b), "config_bundle_digest_mismatch", {
        pointer: "/metadata/digest",
      });
    });

    test("putBundle addressed by another digest is config_bundle_digest_mismatch", async () => {
      await r.fails(
        "put.digest-path",
        () => rt.putBundle(v2.metadata.digest, structuredClone(v1)),
        "config_bundle_digest_mismatch",
        { pointer: "" },
      );
    });

    test("putBundle with credential material in prompt text is forbidden_content, value not echoed", async () => {
      const b = badBundles.awsKeyInPrompt;
      const err = await r.fails("put.forbidden-aws", () => rt.putBundle(b.metadata.digest, b), "forbidden_content", {
        pointer: "/content/prompts/0/text",
        rule: "aws_access_key_id",
      });
      expect(JSON.stringify(err)).not.toContain(AWS_KEY);
    });

    test("putBundle with a host path in a profile field is forbidden_content, value not echoed", async () => {
      const b = badBundles.hostPathInProfile;
      const err = await r.fails("put.forbidden-path", () => rt.putBundle(b.metadata.digest, b), "forbidden_content", {
        pointer: "/content/profiles/0/model",
        rule: "host_path",
      });
      expect(JSON.stringify(err)).not.toContain(HOST_PATH);
    });

    test("putBundle with an unknown declaration kind is unsupported_declaration", async () => {
      const b = badBundles.unknownDeclarationKind;
      await r.fails("put.declaration", () => rt.putBundle(b.metadata.digest, b), "unsupported_declaration", {
        pointer: "/content/declarations/0/kind",
        kind: "quantum_grant",
      });
    });

    test("putBundle with a dangling reference is invalid_bundle", async () => {
      const b = badBundles.danglingRequires;
      await r.fails("put.dangling", () => rt.putBundle(b.metadata.digest, b), "invalid_bundle", {
        pointer: "/content/profiles/0/requires/0",
        reason: "unknown_declaration",
      });
    });

    test("putBundle over limits.maxBundleBytes is payload_too_large with the limit", async () => {
      const b = badBundles.tooLarge;
      await r.fails("put.too-large", () => rt.putBundle(b.metadata.digest, b), "payload_too_large", {
        limit: MAX_BUNDLE_BYTES,
      });
      expect(await rt.hasBundle(b.metadata.digest)).toBe(false);
    });

    test("rejected bundles are not stored", async () => {
      const stored = await r.ok("list.after-rejections", () => rt.listBundles());
      expect(stored).toHaveLength(3);
    });

    test("availability with a body that does not fit the schema is invalid_request", async () => {
      const err = await r.fails(
        "availability.too-many",
        () => rt.availability(Array.from({ length: 1001 }, (_, i) => ({ id: `b${i}`, digest: "d" }))),
        "invalid_request",
      );
      expect(err.details.errors).toEqual([expect.objectContaining({ path: "/refs" })]);
      await r.fails(
        "availability.bad-ref",
        () => rt.availability([{ id: "x" } as never]),
        "invalid_request",
        expect.objectContaining({ errors: expect.any(Array) }) as never,
      );
    });

    // ---- worker creation errors -----------------------------------------------------

    test("createWorker with a body that does not fit the schema is invalid_request", async () => {
      const err = await r.fails("worker.invalid-empty", () => rt.createWorker({}), "invalid_request");
      expect(err.details.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: "/profile" })]));
      await r.fails(
        "worker.invalid-extra",
        () => rt.createWorker({ ...BUILTIN_REQUEST, workerId: "w-extra", mountPath: "x" }),
        "invalid_request",
      );
      await r.fails(
        "worker.invalid-bad-id",
        () => rt.createWorker({ ...BUILTIN_REQUEST, workerId: "-no good-" }),
        "invalid_request",
      );
      await r.fails("worker.invalid-null", () => rt.createWorker(null), "invalid_request");
    });

    test("createWorker naming a bundle that is not stored is config_bundle_missing", async () => {
      await r.fails(
        "worker.bundle-missing",
        () => rt.createWorker({ ...named("coder"), configBundle: { id: "ghost.default", digest: UNKNOWN_DIGEST } }),
        "config_bundle_missing",
        {},
      );
    });

    test("createWorker naming an id stored only under other digests is config_bundle_digest_mismatch", async () => {
      await r.fails(
        "worker.bundle-digest-mismatch",
        () => rt.createWorker({ ...named("coder"), configBundle: { id: "acme.default", digest: UNKNOWN_DIGEST } }),
        "config_bundle_digest_mismatch",
        { availableDigests: [v2.metadata.digest, v1.metadata.digest] },
      );
    });

    test("createWorker with a selector the bundle or host cannot resolve is invalid_profile", async () => {
      await r.fails("worker.profile-not-in-bundle", () => rt.createWorker(named("nobody")), "invalid_profile", {
        reason: "profile_not_in_bundle",
        profile: "nobody",
      });
      await r.fails(
        "worker.builtin-with-bundle",
        () => rt.createWorker({ profile: { kind: "builtin", name: "companion" }, configBundle: ref(v1) }),
        "invalid_profile",
        { reason: "builtin_with_bundle" },
      );
      await r.fails(
        "worker.extends-missing-builtin",
        () => rt.createWorker(named("on-missing-builtin")),
        "invalid_profile",
        { reason: "unknown_builtin", profile: "coder" },
      );
      await r.fails(
        "worker.builtin-not-offered",
        () => rt.createWorker({ profile: { kind: "builtin", name: "coder" } }),
        "invalid_profile",
        { reason: "unknown_builtin", profile: "coder" },
      );
      await r.fails(
        "worker.selector-kind",
        () => rt.createWorker({ profile: { kind: "sideways", name: "coder" } }),
        "invalid_profile",
        { reason: "unknown_selector_kind" },
      );
    });

    test("createWorker with a named profile and no bundle is bundle_required", async () => {
      await r.fails(
        "worker.named-without-bundle",
        () => rt.createWorker({ profile: { kind: "named", name: "coder" } }),
        "bundle_required",
        { reason: "named_profile_without_bundle" },
      );
    });

    test("createWorker on a host with requireBundle: true refuses the builtin fallback (bundle_required)", async () => {
      await r.fails(
        "strict.builtin",
        () => strict.createWorker({ profile: { kind: "builtin", name: "companion" } }),
        "bundle_required",
        { reason: "host_requires_bundle" },
      );
      expect(await r.ok("strict.workers", () => strict.listWorkers())).toEqual([]);
    });

    const policyFailures: [string, string, string, Record<string, unknown>][] = [
      ["secret_ref the host lacks", "needs-github-token", "secret_unavailable", { ref: "secret:github-token" }],
      ["model credential the host lacks", "uses-gh-model", "secret_unavailable", { ref: "secret:github-token" }],
      ["mount the host does not grant", "needs-docs", "grant_denied", { ref: "mount:docs" }],
      ["network the host does not grant", "needs-slack", "grant_denied", { ref: "network:slack" }],
      ["git on a host without git", "needs-git", "grant_denied", { ref: "git:default" }],
      ["capability_grant the host lacks", "needs-gpu", "capability_denied", { ref: "capability:gpu" }],
      ["plugin whose digest is not allowed", "needs-other-plugin", "plugin_denied", { plugin: "other" }],
      ["plugin_grant whose digest is not allowed", "needs-other-grant", "plugin_denied", { ref: "plugin:other" }],
    ];
    for (const [what, profile, code, details] of policyFailures) {
      test(`createWorker for a profile needing a ${what} is ${code}`, async () => {
        await r.fails(`worker.policy.${profile}`, () => rt.createWorker(named(profile)), code, details);
      });
    }

    test("createWorker with a requiredCapability the host lacks is capability_denied", async () => {
      await r.fails(
        "worker.required-capability",
        () => rt.createWorker(named("reviewer", { requiredCapabilities: ["shell", "gpu"] })),
        "capability_denied",
        { capability: "gpu" },
      );
    });

    test("failed worker creations store nothing", async () => {
      const list = await r.ok("worker.list.after-failures", () => rt.listWorkers(), byId);
      expect(list.map((w) => w.id).sort()).toEqual(["w-builtin", "w-coder"]);
    });

    // ---- delete and stop ------------------------------------------------------------

    test("deleteBundle of a bundle a running Worker uses is config_bundle_in_use", async () => {
      await r.fails("delete.in-use", () => rt.deleteBundle(v1.metadata.digest), "config_bundle_in_use", {});
      expect(await rt.hasBundle(v1.metadata.digest)).toBe(true);
    });

    test("stopWorker marks the worker stopped and is idempotent", async () => {
      const stopped = await r.ok("worker.stop", () => rt.stopWorker("w-coder"));
      expect(stopped).toMatchObject({ id: "w-coder", status: "stopped", mode: "bundle" });
      const again = await r.ok("worker.stop.again", () => rt.stopWorker("w-coder"));
      expect(again).toEqual(stopped);
      expect((await rt.getWorker("w-coder")).status).toBe("stopped");
    });

    test("deleteBundle once its Workers are stopped returns the summary and removes the bundle", async () => {
      const summary = await r.ok("delete.v1", () => rt.deleteBundle(v1.metadata.digest));
      expect(summary).toMatchObject({ id: "acme.default", digest: v1.metadata.digest, revision: 1 });
      expect(await r.ok("has.v1.deleted", () => rt.hasBundle(v1.metadata.digest))).toBe(false);
      await r.fails("get.v1.deleted", () => rt.getBundle(v1.metadata.digest), "config_bundle_missing", {});
      await r.fails("delete.v1.again", () => rt.deleteBundle(v1.metadata.digest), "config_bundle_missing", {});
      const avail = await r.ok("availability.after-delete", () => rt.availability([ref(v1)]));
      expect(avail).toEqual([{ ...ref(v1), status: "digest_mismatch", availableDigests: [v2.metadata.digest] }]);
    });

    test("info counts reflect the stored bundles and workers", async () => {
      const info = await r.ok("info.after", () => rt.info(), withoutId);
      expect(info.counts).toEqual({ bundles: 2, quarantined: 0, workers: 2, activeWorkers: 1 });
    });
  });
}

// ---------------------------------------------------------------------------------------
// The two runs

const runtimes: Runtime[] = [];
const servers: Server[] = [];

afterAll(async () => {
  for (const rt of runtimes) rt.close();
  await Promise.all(servers.map((s) => s.stop().catch(() => {})));
  await cleanup();
});

contractSuite("embedded", async (policyFile) => {
  const rt = new Runtime({ dataDir: tempDir("bundlesync-contract-embedded-"), policy: loadHostPolicy(policyFile) });
  runtimes.push(rt);
  return new EmbeddedClient(rt);
});

contractSuite("remote", async (policyFile) => {
  const dir = tempDir("bundlesync-contract-remote-");
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const server = await spawn("runtime", [
    "--listen",
    "127.0.0.1:0",
    "--data",
    join(dir, "data"),
    "--host-policy",
    policyFile,
    "--token-file",
    tokenFile,
  ]);
  servers.push(server);
  return new RemoteClient(server.url, TOKEN);
});

describe("embedded and remote runtimes agree", () => {
  test("every operation gave the same result or the same error (code, message, details) through both clients", () => {
    const embedded = recorded.embedded!;
    const remote = recorded.remote!;
    expect(embedded.size).toBeGreaterThan(60);
    expect([...remote.keys()]).toEqual([...embedded.keys()]);
    const differences: { key: string; embedded: Outcome; remote: Outcome | undefined }[] = [];
    for (const [key, e] of embedded) {
      const o = remote.get(key);
      if (!Bun.deepEquals(e, o, true)) differences.push({ key, embedded: e, remote: o });
    }
    expect(differences).toEqual([]);
  });

  test("the two runtimes are different instances (ids differ), so the comparison is not trivial", () => {
    expect(runtimeIds.embedded).toEqual(expect.any(String));
    expect(runtimeIds.remote).toEqual(expect.any(String));
    expect(runtimeIds.embedded).not.toBe(runtimeIds.remote);
  });
});

describe("remote client failures", () => {
  test("a remote runtime that is not listening is runtime_unavailable for every operation, endpoint never named", async () => {
    const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const port = probe.port;
    await probe.stop(true);
    const endpoint = `http://127.0.0.1:${port}`;
    const dead = new RemoteClient(endpoint, TOKEN, 2_000);
    const ops: [string, () => Promise<unknown>][] = [
      ["info", () => dead.info()],
      ["putBundle", () => dead.putBundle(v1.metadata.digest, v1)],
      ["getBundle", () => dead.getBundle(v1.metadata.digest)],
      ["hasBundle", () => dead.hasBundle(v1.metadata.digest)],
      ["listBundles", () => dead.listBundles({ workspaceId: "acme" })],
      ["availability", () => dead.availability([ref(v1)])],
      ["deleteBundle", () => dead.deleteBundle(v1.metadata.digest)],
      ["createWorker", () => dead.createWorker(BUILTIN_REQUEST)],
      ["getWorker", () => dead.getWorker("w-coder")],
      ["listWorkers", () => dead.listWorkers()],
      ["stopWorker", () => dead.stopWorker("w-coder")],
    ];
    for (const [name, op] of ops) {
      let caught: unknown;
      try {
        await op();
      } catch (e) {
        caught = e;
      }
      expect({ name, isBundlesyncError: caught instanceof BundlesyncError }).toEqual({ name, isBundlesyncError: true });
      const err = caught as BundlesyncError;
      expect({ name, code: err.code, details: err.details, message: err.message }).toEqual({
        name,
        code: "runtime_unavailable",
        details: {},
        message: messageFor("runtime_unavailable"),
      });
      const everything = [String(err), err.message, err.stack ?? "", JSON.stringify(err), JSON.stringify(err.toBody())];
      everything.push(String((err as { cause?: unknown }).cause ?? ""));
      for (const text of everything) {
        expect(text).not.toContain("127.0.0.1");
        expect(text).not.toContain(`:${port}`);
      }
    }
  });

  test("a remote client with the wrong token is unauthorized", async () => {
    const server = servers[0];
    expect(server).toBeDefined();
    const wrong = new RemoteClient(server!.url, "not-the-right-token-000");
    await expect(wrong.info()).rejects.toMatchObject({ code: "unauthorized", details: {} });
    await expect(wrong.listWorkers()).rejects.toMatchObject({ code: "unauthorized" });
  });
});
