import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILTIN_PROFILE_NAMES } from "../../src/bundle/builtin.ts";
import { ConfigError } from "../../src/config/load.ts";
import {
  DEFAULT_MAX_BUNDLE_BYTES,
  DEFAULT_MAX_BUNDLES,
  type HostPolicyFile,
  hostView,
  loadHostPolicy,
  normalizePolicy,
  policyNames,
} from "../../src/runtime/policy.ts";

const root = mkdtempSync(join(tmpdir(), "bundlesync-policy-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function policyFile(text: string, name = "host-policy.yaml"): string {
  const dir = join(root, `case-${n++}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function configError(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const message = (caught as Error).message;
  expect(message).not.toContain("\n");
  return message;
}

describe("defaults", () => {
  test("no policy file allows the builtin fallback and grants nothing", () => {
    const policy = normalizePolicy();
    expect(policy).toEqual({
      requireBundle: false,
      builtinProfiles: BUILTIN_PROFILE_NAMES,
      secrets: {},
      mounts: {},
      network: [],
      shell: false,
      git: false,
      capabilities: [],
      plugins: { allowAll: false, allowDigests: [] },
      limits: { maxBundleBytes: DEFAULT_MAX_BUNDLE_BYTES, maxBundles: DEFAULT_MAX_BUNDLES },
    });
    const view = hostView(policy);
    expect(view.requireBundle).toBe(false);
    expect([...view.builtinProfiles]).toEqual(BUILTIN_PROFILE_NAMES);
    expect(view.secretAvailable("anthropic-api-key")).toBe(false);
    expect(view.mount("repo")).toBeUndefined();
    expect(view.pluginAllowed(`sha256:${"0".repeat(64)}`)).toBe(false);
  });

  test("the default max bundle size is 8 MiB", () => {
    expect(DEFAULT_MAX_BUNDLE_BYTES).toBe(8 * 1024 * 1024);
  });

  test("an empty object is the same as no file", () => {
    expect(normalizePolicy({})).toEqual(normalizePolicy());
  });

  test("mounts default to read-only", () => {
    expect(normalizePolicy({ mounts: { repo: { path: "/srv/repo" } } }).mounts.repo).toEqual({
      path: "/srv/repo",
      readOnly: true,
    });
  });
});

describe("loading a policy file", () => {
  test("loads the example host policy with its grants", () => {
    const policy = loadHostPolicy("examples/host-policy.yaml");
    expect(policy.network).toEqual(["anthropic", "github"]);
    expect(policy.shell).toBe(true);
    expect(policy.mounts.repo!.readOnly).toBe(false);
    expect(hostView(policy).secretAvailable("github-token")).toBe(true);
  });

  test("reads JSON as well as YAML", () => {
    const file = policyFile(JSON.stringify({ shell: true, network: ["github"] }), "policy.json");
    expect(loadHostPolicy(file)).toMatchObject({ shell: true, network: ["github"] });
  });

  test("relative secret files and mount paths resolve from the policy file's directory", () => {
    const file = policyFile("secrets:\n  tok: { file: secrets/tok }\nmounts:\n  repo: { path: ../repo }\n");
    const dir = join(file, "..");
    mkdirSync(join(dir, "secrets"));
    writeFileSync(join(dir, "secrets", "tok"), "value");
    const policy = loadHostPolicy(file);
    expect(policy.secrets.tok).toEqual({ file: join(dir, "secrets", "tok") });
    expect(policy.mounts.repo!.path).toBe(join(dir, "..", "repo"));
    // Available although the process's working directory is elsewhere.
    expect(hostView(policy).secretAvailable("tok")).toBe(true);
  });

  test("a secret file that does not exist is configured but unavailable", () => {
    const file = policyFile("secrets:\n  tok: { file: missing }\n");
    const view = hostView(loadHostPolicy(file));
    expect(view.secretAvailable("tok")).toBe(false);
  });

  test("absolute secret file paths are kept as given", () => {
    const abs = join(root, "abs-secret");
    writeFileSync(abs, "value");
    const file = policyFile(`secrets:\n  tok: { file: ${JSON.stringify(abs)} }\n`);
    expect(loadHostPolicy(file).secrets.tok).toEqual({ file: abs });
  });
});

describe("invalid policy files", () => {
  test("an unreadable file names the label", () => {
    const missing = join(root, "nope", "policy.yaml");
    const message = configError(() => loadHostPolicy(missing));
    expect(message).toStartWith("--host-policy: ");
    expect(message).not.toContain(missing);
  });

  test("a file that is not YAML or JSON names the label and does not echo the content", () => {
    const file = policyFile("shell: [unclosed, hunter2-secret\n  : : :\n");
    const message = configError(() => loadHostPolicy(file, "--host-policy"));
    expect(message).toStartWith("--host-policy: ");
    expect(message).not.toContain("hunter2-secret");
    expect(message).not.toContain(file);
  });

  const cases: [string, unknown, string, string[]][] = [
    ["a non-boolean shell", { shell: "yes-please-sentinel" }, "/shell", ["yes-please-sentinel"]],
    ["a network name that is a path", { network: ["/etc/hosts"] }, "/network/0", ["/etc/hosts"]],
    ["a capability list that is a string", { capabilities: "shell-sentinel" }, "/capabilities", ["shell-sentinel"]],
    [
      "a secret with both env and file",
      { secrets: { tok: { env: "TOK_ENV", file: "/run/secrets/tok" } } },
      "/secrets/tok",
      ["TOK_ENV", "/run/secrets/tok"],
    ],
    ["a secret given as a literal value", { secrets: { tok: "hunter2-literal" } }, "/secrets/tok", ["hunter2-literal"]],
    ["a mount without a path", { mounts: { repo: { readOnly: true } } }, "/mounts/repo/path", []],
    [
      "a mount with a non-boolean readOnly",
      { mounts: { repo: { path: "/srv/x-sentinel", readOnly: "no" } } },
      "/mounts/repo/readOnly",
      ["/srv/x-sentinel"],
    ],
    [
      "a mount named by its path",
      { mounts: { "/srv/repos/acme": { path: "/srv/repos/acme" } } },
      "/mounts",
      ["/srv/repos/acme", "srv~1repos"],
    ],
    [
      "a secret named by a path",
      { secrets: { "/run/secrets/tok": { file: "/run/secrets/tok" } } },
      "/secrets",
      ["/run/secrets/tok", "run~1secrets"],
    ],
    [
      "a bad plugin digest",
      { plugins: { allowDigests: ["sha256:not-hex-sentinel"] } },
      "/plugins/allowDigests/0",
      ["not-hex-sentinel"],
    ],
    ["an unknown builtin profile", { builtinProfiles: ["wizard-sentinel"] }, "/builtinProfiles/0", ["wizard-sentinel"]],
    ["a too-small bundle limit", { limits: { maxBundleBytes: 12 } }, "/limits/maxBundleBytes", []],
    ["an unknown top-level field", { bogus: "value-sentinel" }, "/bogus", ["value-sentinel"]],
    ["an unknown field whose key is a path", { "/home/me/x": 1 }, "/", ["/home/me/x", "home~1me"]],
  ];
  for (const [what, file, field, sentinels] of cases) {
    test(`rejects ${what}, naming the label and ${field}`, () => {
      const message = configError(() => normalizePolicy(file as HostPolicyFile, "policy.yaml"));
      expect(message).toStartWith(`policy.yaml: ${field}: `);
      for (const s of sentinels) expect(message).not.toContain(s);
    });
  }

  test("a file-level error names the file's label", () => {
    const file = policyFile("requireBundle: maybe-sentinel\n");
    const message = configError(() => loadHostPolicy(file, "--host-policy"));
    expect(message).toStartWith("--host-policy: /requireBundle: ");
    expect(message).not.toContain("maybe-sentinel");
  });
});

describe("policyNames", () => {
  test("shows names and switches, never paths, env var names or values", () => {
    const secretFile = join(root, "github-token-file");
    const file = policyFile(
      [
        "requireBundle: true",
        "builtinProfiles: [companion]",
        "secrets:",
        "  anthropic-api-key: { env: ANTHROPIC_ENV_SENTINEL }",
        `  github-token: { file: ${JSON.stringify(secretFile)} }`,
        "mounts:",
        "  repo: { path: /srv/mount-path-sentinel, readOnly: false }",
        "network: [github]",
        "shell: true",
        "capabilities: [browser]",
        "",
      ].join("\n"),
    );
    const names = policyNames(loadHostPolicy(file));
    expect(names).toMatchObject({
      requireBundle: true,
      builtinProfiles: ["companion"],
      secrets: ["anthropic-api-key", "github-token"],
      mounts: ["repo"],
      network: ["github"],
      shell: true,
      git: false,
      capabilities: ["browser"],
    });
    const text = JSON.stringify(names);
    for (const s of ["ANTHROPIC_ENV_SENTINEL", secretFile, "mount-path-sentinel", root, "/srv"]) {
      expect(text).not.toContain(s);
    }
  });
});
