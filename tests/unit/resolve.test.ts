import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILTIN_CONTENT } from "../../src/bundle/builtin.ts";
import { promptDigest } from "../../src/bundle/digest.ts";
import type { Bundle, CreateWorkerRequest } from "../../src/bundle/model.ts";
import { resolveWorker } from "../../src/bundle/resolve.ts";
import { verifyBundle } from "../../src/bundle/validate.ts";
import { BundlesyncError, type ErrorCode } from "../../src/http/errors.ts";
import { type HostPolicyFile, hostView, normalizePolicy } from "../../src/runtime/policy.ts";
import { acme, bundleOf, declarations, digestedPrompt, seal } from "../fixtures/bundles.ts";

const LINT_DIGEST = `sha256:${"5f".repeat(32)}`;
const FMT_DIGEST = `sha256:${"a1".repeat(32)}`;
const SECRET_ENV = `BUNDLESYNC_TEST_SECRET_${process.pid}`;
const SECRET_VALUE = "s3cret-value-that-must-stay-on-the-host";
const MOUNT_PATH = "/srv/private/mount-path-sentinel";

const envSet: string[] = [];
function setEnv(name: string, value: string) {
  process.env[name] = value;
  envSet.push(name);
}
afterEach(() => {
  for (const name of envSet.splice(0)) delete process.env[name];
});

const texts = { base: "Base rules.", coder: "You code.", review: "You review." };

function bundle(): Bundle {
  return seal(
    bundleOf({
      workspace: acme.workspace(),
      language: acme.language(),
      profiles: [
        {
          name: "base",
          extends: "builtin:companion",
          model: "default",
          prompts: ["base-system"],
          tools: ["editor"],
          requires: ["anthropic"],
        },
        acme.coder({
          prompts: ["coder-system", "base-system"],
          tools: ["shell", "editor"],
          requires: ["repo", "shell", "git", "github", "anthropic"],
          language: "ja",
        }),
        { name: "reviewer", extends: "base", model: "fast", prompts: ["reviewer-system"], requires: ["docs"] },
        { name: "standalone" },
        { name: "browser-user", requires: ["browser"] },
        { name: "formatter", plugins: ["fmt"] },
        { name: "granted-plugin", requires: ["lint-grant"] },
        { name: "on-builtin-coder", extends: "builtin:coder" },
      ],
      prompts: [
        digestedPrompt("base-system", texts.base),
        digestedPrompt("coder-system", texts.coder),
        { name: "reviewer-system", text: texts.review },
      ],
      workflows: [acme.reviewLoop()],
      tools: [acme.shellTool(), { name: "editor", kind: "builtin", policy: "allow" }],
      plugins: [
        acme.plugin("lint", "1.2.0", LINT_DIGEST, { grants: ["network:github"] }),
        acme.plugin("fmt", "0.1.0", FMT_DIGEST),
      ],
      models: [acme.defaultModel(), { name: "fast", provider: "anthropic", model: "claude-haiku" }],
      declarations: declarations({
        secrets: { anthropic: "anthropic-api-key" },
        mounts: ["repo"],
        network: ["github", "docs"],
        shell: true,
        git: true,
        capabilities: ["browser"],
        pluginGrants: { "lint-grant": "lint" },
      }),
    }),
  );
}

/** A host that grants everything the fixture bundle can ask for. */
function generousPolicy(): HostPolicyFile {
  setEnv(SECRET_ENV, SECRET_VALUE);
  return {
    secrets: { "anthropic-api-key": { env: SECRET_ENV } },
    mounts: { repo: { path: MOUNT_PATH, readOnly: false }, docs: { path: "/srv/docs" } },
    network: ["github", "docs"],
    shell: true,
    git: true,
    capabilities: ["browser", "gpu"],
    plugins: { allowDigests: [LINT_DIGEST] },
  };
}

const host = (file: HostPolicyFile = {}) => hostView(normalizePolicy(file));
const named = (name: string, extra: Partial<CreateWorkerRequest> = {}): CreateWorkerRequest => ({
  profile: { kind: "named", name },
  ...extra,
});
const builtin = (name: string, extra: Partial<CreateWorkerRequest> = {}): CreateWorkerRequest => ({
  profile: { kind: "builtin", name },
  ...extra,
});

function failure(fn: () => unknown, code: ErrorCode): Record<string, unknown> {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(BundlesyncError);
  expect((caught as BundlesyncError).code).toBe(code);
  return (caught as BundlesyncError).details;
}

test("the fixture bundle is itself a valid bundle", () => {
  expect(verifyBundle(bundle()).digest).toBe(bundle().metadata.digest);
});

describe("mode selection", () => {
  test("a named profile with a bundle resolves in bundle mode", () => {
    const r = resolveWorker(named("standalone"), bundle(), host());
    expect(r.mode).toBe("bundle");
    expect(r.spec.profile).toEqual({ name: "standalone", chain: ["standalone"] });
  });

  test("a builtin profile without a bundle resolves in builtin mode from the runtime's builtins", () => {
    const r = resolveWorker(builtin("companion"), undefined, host());
    expect(r.mode).toBe("builtin");
    const prompt = BUILTIN_CONTENT.prompts!.find((p) => p.name === "builtin-companion")!;
    expect(r.spec.profile).toEqual({ name: "companion", chain: ["builtin:companion"] });
    expect(r.spec.prompts).toEqual([{ name: "builtin-companion", digest: promptDigest(prompt.text) }]);
    expect(r.spec.shell).toBe(false);
  });

  test("a named profile without a bundle is bundle_required", () => {
    expect(failure(() => resolveWorker(named("coder"), undefined, host()), "bundle_required").reason).toBe(
      "named_profile_without_bundle",
    );
  });

  test("a builtin profile on a host with requireBundle: true is bundle_required", () => {
    failure(() => resolveWorker(builtin("companion"), undefined, host({ requireBundle: true })), "bundle_required");
  });

  test("requireBundle: true does not block bundle mode", () => {
    expect(resolveWorker(named("standalone"), bundle(), host({ requireBundle: true })).mode).toBe("bundle");
  });

  test("a selector naming a profile that is not in the bundle is invalid_profile", () => {
    failure(() => resolveWorker(named("ghost"), bundle(), host()), "invalid_profile");
  });

  test("an unknown selector kind is invalid_profile", () => {
    failure(() => resolveWorker({ profile: { kind: "custom", name: "coder" } }, bundle(), host()), "invalid_profile");
    failure(
      () => resolveWorker({ profile: { kind: "custom", name: "companion" } }, undefined, host()),
      "invalid_profile",
    );
  });

  test("a builtin selector together with a bundle is invalid_profile", () => {
    failure(() => resolveWorker(builtin("companion"), bundle(), host()), "invalid_profile");
  });

  test("a builtin the host does not offer is invalid_profile", () => {
    failure(
      () => resolveWorker(builtin("reviewer"), undefined, host({ builtinProfiles: ["companion"] })),
      "invalid_profile",
    );
    failure(() => resolveWorker(builtin("no-such-builtin"), undefined, host()), "invalid_profile");
  });

  test("extending a builtin the host does not offer is invalid_profile", () => {
    const policy = { ...generousPolicy(), builtinProfiles: ["coder"] };
    failure(() => resolveWorker(named("coder"), bundle(), host(policy)), "invalid_profile");
  });
});

describe("extends chain", () => {
  test("is resolved root first, with a builtin as the root", () => {
    const r = resolveWorker(named("coder"), bundle(), host(generousPolicy()));
    expect(r.spec.profile).toEqual({ name: "coder", chain: ["builtin:companion", "base", "coder"] });
  });

  test("lists concatenate parent first without duplicates", () => {
    const { spec } = resolveWorker(named("coder"), bundle(), host(generousPolicy()));
    expect(spec.prompts.map((p) => p.name)).toEqual(["builtin-companion", "base-system", "coder-system"]);
    expect(spec.tools).toEqual([
      { name: "editor", policy: "allow" },
      { name: "shell", policy: "ask" },
    ]);
    expect(spec.workflows).toEqual(["review-loop"]);
    expect(spec.plugins).toEqual([{ name: "lint", version: "1.2.0", digest: LINT_DIGEST }]);
  });

  test("prompts carry their digests, computed when the bundle omits them", () => {
    const { spec } = resolveWorker(named("reviewer"), bundle(), host(generousPolicy()));
    expect(spec.prompts.slice(1)).toEqual([
      { name: "base-system", digest: promptDigest(texts.base) },
      { name: "reviewer-system", digest: promptDigest(texts.review) },
    ]);
  });

  test("the child overrides the model and language of its parents", () => {
    const policy = generousPolicy();
    const coder = resolveWorker(named("coder"), bundle(), host(policy)).spec;
    expect(coder.model).toEqual({
      name: "default",
      provider: "anthropic",
      model: "claude-sonnet",
      credential: { ref: "secret:anthropic-api-key", available: true },
    });
    expect(coder.language).toBe("ja");
    const reviewer = resolveWorker(named("reviewer"), bundle(), host(policy)).spec;
    expect(reviewer.model).toEqual({ name: "fast", provider: "anthropic", model: "claude-haiku" });
    expect(reviewer.language).toBe("en");
  });

  test("a builtin root contributes its own requirements (builtin:coder needs shell and git)", () => {
    const denied = failure(() => resolveWorker(named("on-builtin-coder"), bundle(), host()), "grant_denied");
    expect(denied.ref).toBe("shell:default");
    const { spec } = resolveWorker(named("on-builtin-coder"), bundle(), host({ shell: true, git: true }));
    expect(spec.profile.chain).toEqual(["builtin:coder", "on-builtin-coder"]);
    expect(spec).toMatchObject({ shell: true, git: true, tools: [{ name: "shell", policy: "ask" }] });
  });
});

describe("host policy errors", () => {
  test("a model credential whose secret the host does not configure is secret_unavailable", () => {
    const policy = generousPolicy();
    delete policy.secrets;
    expect(failure(() => resolveWorker(named("base"), bundle(), host(policy)), "secret_unavailable").ref).toBe(
      "secret:anthropic-api-key",
    );
  });

  test("a secret configured from an env var that is unset is secret_unavailable", () => {
    const policy = generousPolicy();
    delete process.env[SECRET_ENV];
    failure(() => resolveWorker(named("base"), bundle(), host(policy)), "secret_unavailable");
  });

  test("a secret configured from an env var that is empty is secret_unavailable", () => {
    const policy = generousPolicy();
    setEnv(SECRET_ENV, "");
    failure(() => resolveWorker(named("base"), bundle(), host(policy)), "secret_unavailable");
  });

  test("a secret configured from a file resolves only while the file is readable", () => {
    const dir = mkdtempSync(join(tmpdir(), "bundlesync-resolve-"));
    try {
      const file = join(dir, "anthropic-api-key");
      const policy = { ...generousPolicy(), secrets: { "anthropic-api-key": { file } } };
      failure(() => resolveWorker(named("base"), bundle(), host(policy)), "secret_unavailable");
      writeFileSync(file, SECRET_VALUE);
      const { spec } = resolveWorker(named("base"), bundle(), host(policy));
      expect(spec.model?.credential).toEqual({ ref: "secret:anthropic-api-key", available: true });
      expect(JSON.stringify(spec)).not.toContain(SECRET_VALUE);
      expect(JSON.stringify(spec)).not.toContain(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const grants: [string, (p: HostPolicyFile) => void, string][] = [
    ["mount", (p) => (p.mounts = { docs: { path: "/srv/docs" } }), "mount:repo"],
    ["network", (p) => (p.network = ["docs"]), "network:github"],
    ["shell", (p) => (p.shell = false), "shell:default"],
    ["git", (p) => delete p.git, "git:default"],
  ];
  for (const [what, restrict, ref] of grants) {
    test(`a ${what} grant the host does not give is grant_denied`, () => {
      const policy = generousPolicy();
      restrict(policy);
      expect(failure(() => resolveWorker(named("coder"), bundle(), host(policy)), "grant_denied").ref).toBe(ref);
    });
  }

  test("a network grant a plugin carries is checked against the host", () => {
    const policy = { ...generousPolicy(), network: ["docs"] };
    const b = bundle();
    b.content.profiles[1]!.requires = ["repo", "shell", "git", "anthropic"];
    expect(failure(() => resolveWorker(named("coder"), b, host(policy)), "grant_denied").ref).toBe("network:github");
  });

  test("a plugin whose digest the host does not allow is plugin_denied", () => {
    failure(() => resolveWorker(named("formatter"), bundle(), host(generousPolicy())), "plugin_denied");
  });

  test("plugins.allowAll allows any plugin digest", () => {
    const policy = { ...generousPolicy(), plugins: { allowAll: true } };
    const { spec } = resolveWorker(named("formatter"), bundle(), host(policy));
    expect(spec.plugins).toEqual([{ name: "fmt", version: "0.1.0", digest: FMT_DIGEST }]);
  });

  test("a plugin_grant the profile requires is checked against the allowed digests", () => {
    failure(
      () => resolveWorker(named("granted-plugin"), bundle(), host({ plugins: { allowDigests: [FMT_DIGEST] } })),
      "plugin_denied",
    );
    expect(
      resolveWorker(named("granted-plugin"), bundle(), host({ plugins: { allowDigests: [LINT_DIGEST] } })).mode,
    ).toBe("bundle");
  });

  test("a requiredCapabilities entry the host does not have is capability_denied", () => {
    const req = named("standalone", { requiredCapabilities: ["gpu", "quantum"] });
    expect(failure(() => resolveWorker(req, bundle(), host(generousPolicy())), "capability_denied").capability).toBe(
      "quantum",
    );
  });

  test("a capability_grant the profile requires that the host lacks is capability_denied", () => {
    const policy = { ...generousPolicy(), capabilities: ["gpu"] };
    expect(failure(() => resolveWorker(named("browser-user"), bundle(), host(policy)), "capability_denied").ref).toBe(
      "capability:browser",
    );
  });

  test("a host with no policy grants nothing but the builtin fallback", () => {
    failure(() => resolveWorker(named("browser-user"), bundle(), host()), "capability_denied");
    failure(() => resolveWorker(named("base"), bundle(), host()), "secret_unavailable");
    failure(() => resolveWorker(builtin("coder"), undefined, host()), "grant_denied");
    expect(resolveWorker(builtin("companion"), undefined, host()).mode).toBe("builtin");
  });
});

describe("resolved spec", () => {
  test("shows grants by name, mounts with the host's readOnly, and no secret value or mount path", () => {
    const { spec } = resolveWorker(
      named("coder", { requiredCapabilities: ["gpu"], intent: { goal: "Fix the flaky test" } }),
      bundle(),
      host(generousPolicy()),
    );
    expect(spec.mounts).toEqual([{ name: "repo", readOnly: false }]);
    expect(spec.network).toEqual(["github"]);
    expect(spec.shell).toBe(true);
    expect(spec.git).toBe(true);
    expect(spec.capabilities).toEqual(["gpu"]);
    expect(spec.intent).toEqual({ goal: "Fix the flaky test" });
    expect(spec.specDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const text = JSON.stringify(spec);
    expect(text).not.toContain(SECRET_VALUE);
    expect(text).not.toContain(SECRET_ENV);
    expect(text).not.toContain(MOUNT_PATH);
  });

  test("a mount the host leaves at its default is read-only", () => {
    const policy = { ...generousPolicy(), mounts: { repo: { path: MOUNT_PATH } } };
    expect(resolveWorker(named("coder"), bundle(), host(policy)).spec.mounts).toEqual([
      { name: "repo", readOnly: true },
    ]);
  });

  test("capabilities list both capability grants and required capabilities, once each", () => {
    const { spec } = resolveWorker(
      named("browser-user", { requiredCapabilities: ["browser", "gpu"] }),
      bundle(),
      host(generousPolicy()),
    );
    expect(spec.capabilities).toEqual(["browser", "gpu"]);
  });

  test("specDigest is stable across identical calls and changes with the intent", () => {
    const policy = generousPolicy();
    const a = resolveWorker(named("coder", { intent: { goal: "a" } }), bundle(), host(policy)).spec;
    const again = resolveWorker(named("coder", { intent: { goal: "a" } }), bundle(), host(policy)).spec;
    const b = resolveWorker(named("coder", { intent: { goal: "b" } }), bundle(), host(policy)).spec;
    const none = resolveWorker(named("coder"), bundle(), host(policy)).spec;
    expect(again).toEqual(a);
    expect(again.specDigest).toBe(a.specDigest);
    expect(b.specDigest).not.toBe(a.specDigest);
    expect(none.specDigest).not.toBe(a.specDigest);
  });

  test("specDigest changes with what the host grants", () => {
    const policy = generousPolicy();
    const rw = resolveWorker(named("coder"), bundle(), host(policy)).spec;
    const ro = resolveWorker(
      named("coder"),
      bundle(),
      host({ ...policy, mounts: { repo: { path: MOUNT_PATH } } }),
    ).spec;
    expect(ro.specDigest).not.toBe(rw.specDigest);
  });

  test("language falls back to the bundle default when no profile in the chain sets it", () => {
    expect(resolveWorker(named("standalone"), bundle(), host()).spec.language).toBe("en");
  });
});
