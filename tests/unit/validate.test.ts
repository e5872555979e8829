import { describe, expect, test } from "bun:test";
import { promptDigest } from "../../src/bundle/digest.ts";
import type { Bundle } from "../../src/bundle/model.ts";
import { verifyBundle } from "../../src/bundle/validate.ts";
import { BundlesyncError, type ErrorCode } from "../../src/http/errors.ts";
import { acme, bundleOf, declarations, digestedPrompt, seal } from "../fixtures/bundles.ts";

const LINT_DIGEST = `sha256:${"5f".repeat(32)}`;

// Credential-shaped strings are assembled at run time so the repository itself holds none.
const CREDENTIALS: Record<string, string> = {
  pem_private_key: `-----BEGIN ${"RSA PRIVATE KEY"}-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----`,
  aws_access_key_id: `${"AKIA"}IOSFODNN7EXAMPLE`,
  github_token: `${"ghp_"}${"a1B2c3D4e5".repeat(4)}`,
  slack_token: `${"xoxb-"}123456789012-abcdefghijKLMN`,
  openai_key: `${"sk-"}proj-${"Ab3dEf6hIj".repeat(3)}`,
  anthropic_key: `${"sk-ant-"}api03-${"Zy9xWv8uTs".repeat(3)}`,
  jwt: `${"eyJ"}hbGciOiJIUzI1NiJ9.${"eyJ"}zdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U`,
  url_credentials: `https://deploy:${"hunter2pass"}@git.example.com/acme/repo.git`,
};

function baseBundle(): Bundle {
  return bundleOf({
    workspace: acme.workspace({ description: "Agents.", labels: { team: "platform" } }),
    language: acme.language(),
    profiles: [
      { name: "base", description: "Base.", extends: "builtin:companion", model: "default", requires: ["anthropic"] },
      acme.coder({ requires: ["repo", "github"], language: "en" }),
    ],
    prompts: [digestedPrompt("coder-system", "You are a careful coder.")],
    workflows: [{ name: "review-loop", description: "Loop.", steps: [{ name: "implement", profile: "coder" }] }],
    tools: [acme.shellTool()],
    plugins: [acme.plugin("lint", "1.2.0", LINT_DIGEST, { provides: ["tool:lint"], grants: ["network:github"] })],
    models: [acme.defaultModel({ options: { temperature: 0.2 } })],
    declarations: declarations({
      secrets: { anthropic: "anthropic-api-key" },
      mounts: ["repo"],
      network: ["github"],
      shell: true,
      git: true,
      capabilities: ["browser"],
      pluginGrants: { lint: "lint" },
    }),
  });
}

/** A copy of the base bundle, edited, with a correct digest. */
function signed(edit: (b: Bundle) => void = () => {}): Bundle {
  const b = baseBundle();
  edit(b);
  return seal(b);
}

/**
 * Verifies, expects a BundlesyncError with `code`, and checks the error body never
 * carries any of the `sentinels` (the offending values).
 */
function rejection(input: unknown, code: ErrorCode, sentinels: string[] = []): Record<string, unknown> {
  let caught: unknown;
  try {
    verifyBundle(input);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(BundlesyncError);
  const err = caught as BundlesyncError;
  expect(err.code).toBe(code);
  const body = JSON.stringify(err.toBody());
  for (const s of sentinels) {
    expect(body).not.toContain(s);
    expect(body).not.toContain(JSON.stringify(s).slice(1, -1));
  }
  return err.details;
}

test("the fixture bundle passes store-time validation", () => {
  const b = signed();
  const verified = verifyBundle(structuredClone(b));
  expect(verified.digest).toBe(b.metadata.digest);
});

describe("stage order", () => {
  test("schema shape is checked first and lists {path, message} errors", () => {
    const bad = signed((b) => {
      b.schemaVersion = 9;
      b.content.workspace.name = "/home/me/x";
    }) as unknown as Record<string, unknown>;
    (bad.metadata as Record<string, unknown>).revision = 0;
    const details = rejection(bad, "invalid_request", ["/home/me/x"]);
    const errors = details.errors as { path: string; message: string }[];
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toEqual({ path: "/metadata/revision", message: expect.any(String) });
  });

  test("a missing content.profiles is a schema error pointing at it", () => {
    const b = signed() as unknown as { content: Record<string, unknown> };
    delete b.content.profiles;
    const details = rejection(b, "invalid_request");
    expect((details.errors as { path: string }[]).map((e) => e.path)).toContain("/content/profiles");
  });

  test("an unsupported schemaVersion wins over a wrong digest and forbidden content", () => {
    const b = baseBundle();
    b.schemaVersion = 2;
    b.content.workspace.name = "/home/me/x";
    const details = rejection(b, "unsupported_schema_version", ["/home/me/x"]);
    expect(details.pointer).toBe("/schemaVersion");
  });

  test("a digest computed over other content wins over forbidden content", () => {
    const b = signed();
    b.content.workspace.name = "/home/me/x";
    const details = rejection(b, "config_bundle_digest_mismatch", ["/home/me/x"]);
    expect(details.pointer).toBe("/metadata/digest");
  });

  test("a claimed digest (PUT path) that differs from the recomputed one is a digest mismatch", () => {
    const b = signed();
    expect(() => verifyBundle(b, `sha256:${"1".repeat(64)}`)).toThrow(
      expect.objectContaining({ code: "config_bundle_digest_mismatch" }),
    );
    expect(verifyBundle(b, b.metadata.digest).digest).toBe(b.metadata.digest);
  });

  test("forbidden content wins over an unknown declaration kind", () => {
    const b = signed((b) => {
      b.content.declarations!.push({ kind: "vault_ref", name: "v", ref: "vault:db" });
      b.content.workspace.name = "C:\\Users\\me";
    });
    const details = rejection(b, "forbidden_content", ["C:\\Users\\me"]);
    expect(details).toEqual({ pointer: "/content/workspace/name", rule: "host_path" });
  });

  test("an unknown declaration kind wins over dangling references", () => {
    const b = signed((b) => {
      b.content.declarations!.push({ kind: "vault_ref", name: "v", ref: "vault:db" });
      b.content.profiles[1]!.prompts = ["missing-prompt"];
    });
    const details = rejection(b, "unsupported_declaration");
    expect(details).toEqual({ pointer: "/content/declarations/7/kind", kind: "vault_ref" });
  });

  test("dangling references are invalid_bundle, the last stage", () => {
    const b = signed((b) => {
      b.content.profiles[1]!.prompts = ["missing-prompt"];
    });
    expect(rejection(b, "invalid_bundle")).toEqual({
      pointer: "/content/profiles/1/prompts/0",
      reason: "unknown_prompt",
    });
  });
});

describe("metadata ids", () => {
  for (const id of ["bundle/1", "bundle?x", "bundle&x", "bundle#x", " bundle", "", "-bundle", "x".repeat(129)]) {
    test(`rejects metadata.id ${JSON.stringify(id.length > 20 ? `${id.slice(0, 5)}…` : id)} as invalid_request`, () => {
      const b = signed((b) => {
        b.metadata.id = id;
      });
      const details = rejection(b, "invalid_request", id.length > 1 ? [id] : []);
      expect((details.errors as { path: string }[])[0]!.path).toBe("/metadata/id");
    });
  }

  test("accepts ids with dots, colons, dashes and underscores", () => {
    const b = signed((b) => {
      b.metadata.id = "acme:team_a.default-2";
    });
    expect(verifyBundle(b).bundle.metadata.id).toBe("acme:team_a.default-2");
  });
});

describe("credential rules apply to every string", () => {
  for (const [rule, value] of Object.entries(CREDENTIALS)) {
    test(`rejects ${rule} in a structured string`, () => {
      const b = signed((b) => {
        b.content.models![0]!.model = value;
      });
      expect(rejection(b, "forbidden_content", [value])).toEqual({ pointer: "/content/models/0/model", rule });
    });

    test(`rejects ${rule} inside prompt text`, () => {
      const b = signed((b) => {
        b.content.prompts![0] = { name: "coder-system", text: `Use this:\n${value}\nthanks` };
      });
      expect(rejection(b, "forbidden_content", [value])).toEqual({ pointer: "/content/prompts/0/text", rule });
    });

    test(`rejects ${rule} inside a description`, () => {
      const b = signed((b) => {
        b.content.profiles[0]!.description = `token ${value}`;
      });
      expect(rejection(b, "forbidden_content", [value])).toEqual({ pointer: "/content/profiles/0/description", rule });
    });
  }

  test("rejects a credential used as an object key without echoing it in the pointer", () => {
    const token = CREDENTIALS.github_token!;
    const b = signed((b) => {
      b.content.workspace.project!.labels = { [token]: "x" };
    });
    const details = rejection(b, "forbidden_content", [token]);
    expect(details).toEqual({ pointer: "/content/workspace/project/labels", rule: "github_token" });
  });

  test("rejects a credential nested in model options", () => {
    const value = CREDENTIALS.anthropic_key!;
    const b = signed((b) => {
      b.content.models![0]!.options = { headers: [{ "x-api-key": value }] };
    });
    expect(rejection(b, "forbidden_content", [value])).toEqual({
      pointer: "/content/models/0/options/headers/0/x-api-key",
      rule: "anthropic_key",
    });
  });

  test("an unknown property whose key is a credential is a schema error that does not echo the key", () => {
    const token = CREDENTIALS.github_token!;
    const b = signed() as unknown as { content: { workspace: Record<string, unknown> } };
    b.content.workspace[token] = 1;
    const details = rejection(b, "invalid_request", [token]);
    expect((details.errors as { path: string }[])[0]!.path).toBe("/content/workspace");
  });

  test("an unknown property with a plain name is named in the schema error", () => {
    const b = signed() as unknown as { content: { profiles: Record<string, unknown>[] } };
    b.content.profiles[0]!.modle = "default";
    const details = rejection(b, "invalid_request");
    expect(details.errors).toContainEqual({ path: "/content/profiles/0/modle", message: expect.any(String) });
  });
});

describe("host-local rules apply to structured strings only", () => {
  const hostLocal: [string, string, string][] = [
    ["absolute POSIX path", "/srv/repos/acme", "host_path"],
    ["/run/ path", "/run/secrets/token", "host_path"],
    ["Windows drive path", "C:\\Users\\me\\repo", "host_path"],
    ["Windows forward-slash path", "D:/data/repo", "host_path"],
    ["UNC path", "\\\\fileserver\\share", "host_path"],
    ["home-relative path", "~/projects/acme", "host_path"],
    ["file: URL", "file:///etc/passwd", "host_path"],
    ["parent-directory segment", "repos/../etc/shadow", "host_path"],
    ["bare ..", "..", "host_path"],
    ["prefixed absolute path", "mount:/srv/repos", "host_path"],
    ["socket file", "docker.sock", "host_local_name"],
    ["socket directory", "pods/foo/sock", "host_local_name"],
    ["relative run directory", "var/run/agent.pid", "host_local_name"],
    ["cache directory", ".cache/app", "host_local_name"],
    ["Caches directory", "Library/Caches/app", "host_local_name"],
    ["session file", ".app/sessions/foo.jsonl", "host_local_name"],
    ["bare session file name", "worker.session", "host_local_name"],
    ["key=value secret", "password=hunter2", "secret_assignment"],
    ["spaced key = value secret", "API_TOKEN = s3cr3tvalue", "secret_assignment"],
  ];

  for (const [what, value, rule] of hostLocal) {
    test(`rejects a ${what} in a structured field (${rule})`, () => {
      const b = signed((b) => {
        b.content.plugins![0]!.package = value;
      });
      expect(rejection(b, "forbidden_content", [value])).toEqual({ pointer: "/content/plugins/0/package", rule });
    });
  }

  test("prompt text and descriptions may mention host paths", () => {
    const text = "Read /srv/repos/acme, C:\\work, ~/notes, file:///tmp/x, ../up, docker.sock and .cache/app; x=1";
    const b = signed((b) => {
      b.content.prompts![0] = { name: "coder-system", text, digest: promptDigest(text) };
      b.content.profiles[0]!.description = text;
      b.content.workflows![0]!.description = text;
      b.content.tools![0]!.description = text;
      b.content.plugins![0]!.description = text;
      b.content.workspace.project!.description = text;
    });
    expect(verifyBundle(b).digest).toBe(b.metadata.digest);
  });

  test("a label or option merely named description is still a structured string", () => {
    const value = "/home/me/x";
    const labelled = signed((b) => {
      b.content.workspace.project!.labels = { description: value };
    });
    expect(rejection(labelled, "forbidden_content", [value])).toEqual({
      pointer: "/content/workspace/project/labels/description",
      rule: "host_path",
    });
    const option = signed((b) => {
      b.content.models![0]!.options = { description: value };
    });
    expect(rejection(option, "forbidden_content", [value]).pointer).toBe("/content/models/0/options/description");
  });

  test("a host path used as an object key is rejected at its object without echoing it", () => {
    const value = "/home/me/secret-dir";
    const b = signed((b) => {
      b.content.workspace.project!.labels = { [value]: "x" };
    });
    expect(rejection(b, "forbidden_content", [value])).toEqual({
      pointer: "/content/workspace/project/labels",
      rule: "host_path",
    });
  });

  test("host paths in a profile field and a workflow step are rejected with their pointer", () => {
    const value = "/home/me/x";
    const profile = signed((b) => {
      b.content.profiles[1]!.language = value;
    });
    expect(rejection(profile, "forbidden_content", [value]).pointer).toBe("/content/profiles/1/language");
    const step = signed((b) => {
      b.content.workflows![0]!.steps[0]!.name = value;
    });
    expect(rejection(step, "forbidden_content", [value]).pointer).toBe("/content/workflows/0/steps/0/name");
  });

  test("ordinary structured values are accepted", () => {
    const b = signed((b) => {
      b.content.plugins![0]!.package = "npm:@acme/lint@1.2.0";
      b.content.models![0]!.model = "claude-sonnet-4.5";
      b.content.workspace.project!.labels = { team: "platform", "cost-center": "r&d 42" };
    });
    expect(verifyBundle(b).digest).toBe(b.metadata.digest);
  });
});

describe("declaration refs", () => {
  const badRefs: [string, string][] = [
    [".cache/app", "host_local_name"],
    [".app/sessions/foo.jsonl", "host_local_name"],
    ["pods/foo/sock", "host_local_name"],
    ["password=hunter2", "secret_assignment"],
    ["hunter2-secret-value", "ref_format"],
    ["/home/me/x", "host_path"],
    ["C:\\x", "host_path"],
    ["file:///etc/passwd", "host_path"],
  ];
  for (const [value, rule] of badRefs) {
    test(`rejects ${JSON.stringify(value)} as a secret_ref ref (${rule})`, () => {
      const b = signed((b) => {
        b.content.declarations![0]!.ref = value;
      });
      expect(rejection(b, "forbidden_content", [value])).toEqual({ pointer: "/content/declarations/0/ref", rule });
    });
  }

  test("rejects a ref whose name part is not a plain name", () => {
    for (const value of ["secret:", "secret:-x", "secret:a b", "Secret:x", ":x"]) {
      const b = signed((b) => {
        b.content.declarations![0]!.ref = value;
      });
      expect(rejection(b, "forbidden_content", [value])).toEqual({
        pointer: "/content/declarations/0/ref",
        rule: "ref_format",
      });
    }
  });

  const kinds: [string, string, string][] = [
    ["secret_ref", "mount:repo", "secret"],
    ["mount_grant", "secret:repo", "mount"],
    ["network_policy", "mount:github", "network"],
    ["shell_policy", "git:default", "shell"],
    ["git_policy", "shell:default", "git"],
    ["capability_grant", "plugin:browser", "capability"],
    ["plugin_grant", "capability:lint", "plugin"],
  ];
  for (const [kind, wrong, prefix] of kinds) {
    test(`a ${kind} must carry the ${prefix}: prefix`, () => {
      const i = baseBundle().content.declarations!.findIndex((d) => d.kind === kind);
      const b = signed((b) => {
        b.content.declarations![i]!.ref = wrong;
      });
      expect(rejection(b, "forbidden_content", [wrong])).toEqual({
        pointer: `/content/declarations/${i}/ref`,
        rule: "ref_prefix",
      });
    });
  }

  test("a model credential must be a secret: ref", () => {
    for (const [value, rule] of [
      ["mount:anthropic-api-key", "ref_prefix"],
      ["anthropic-api-key", "ref_format"],
    ] as const) {
      const b = signed((b) => {
        b.content.models![0]!.credential = value;
      });
      expect(rejection(b, "forbidden_content", [value])).toEqual({ pointer: "/content/models/0/credential", rule });
    }
  });

  test("a plugin grant must be a ref of a known kind", () => {
    const b = signed((b) => {
      b.content.plugins![0]!.grants = ["network:github", "vault:db"];
    });
    expect(rejection(b, "forbidden_content", ["vault:db"])).toEqual({
      pointer: "/content/plugins/0/grants/1",
      rule: "ref_prefix",
    });
  });

  test("an unknown declaration kind is unsupported_declaration, not a schema error, and its ref prefix is not checked", () => {
    const b = signed((b) => {
      b.content.declarations!.unshift({ kind: "vault_ref", name: "db", ref: "vault:db-password" });
    });
    expect(rejection(b, "unsupported_declaration")).toEqual({
      pointer: "/content/declarations/0/kind",
      kind: "vault_ref",
    });
  });

  test("an unknown declaration kind still gets the host-path rules on its ref", () => {
    const value = "/var/lib/vault/db";
    const b = signed((b) => {
      b.content.declarations!.push({ kind: "vault_ref", name: "db", ref: value });
    });
    expect(rejection(b, "forbidden_content", [value])).toEqual({
      pointer: "/content/declarations/7/ref",
      rule: "host_path",
    });
  });
});

describe("references (invalid_bundle)", () => {
  const lists = ["profiles", "prompts", "workflows", "tools", "plugins", "models", "declarations"] as const;
  for (const list of lists) {
    test(`rejects a duplicate name in ${list}`, () => {
      const b = signed((b) => {
        const items = b.content[list] as { name: string }[];
        items.push(structuredClone(items[0]!));
      });
      const n = (baseBundle().content[list] as unknown[]).length;
      expect(rejection(b, "invalid_bundle")).toEqual({
        pointer: `/content/${list}/${n}/name`,
        reason: "duplicate_name",
      });
    });
  }

  const dangling: [string, (b: Bundle) => void, string, string][] = [
    [
      "profile (extends)",
      (b) => (b.content.profiles[1]!.extends = "nobody"),
      "/content/profiles/1/extends",
      "unknown_profile",
    ],
    [
      "prompt",
      (b) => (b.content.profiles[1]!.prompts = ["coder-system", "ghost"]),
      "/content/profiles/1/prompts/1",
      "unknown_prompt",
    ],
    ["tool", (b) => (b.content.profiles[1]!.tools = ["hammer"]), "/content/profiles/1/tools/0", "unknown_tool"],
    [
      "workflow",
      (b) => (b.content.profiles[1]!.workflows = ["nope"]),
      "/content/profiles/1/workflows/0",
      "unknown_workflow",
    ],
    ["plugin", (b) => (b.content.profiles[1]!.plugins = ["format"]), "/content/profiles/1/plugins/0", "unknown_plugin"],
    ["model", (b) => (b.content.profiles[0]!.model = "gpt"), "/content/profiles/0/model", "unknown_model"],
    [
      "declaration",
      (b) => (b.content.profiles[1]!.requires = ["repo", "vault"]),
      "/content/profiles/1/requires/1",
      "unknown_declaration",
    ],
    [
      "workflow step profile",
      (b) => (b.content.workflows![0]!.steps[0]!.profile = "reviewer"),
      "/content/workflows/0/steps/0/profile",
      "unknown_profile",
    ],
  ];
  for (const [what, edit, pointer, reason] of dangling) {
    test(`rejects a dangling ${what} name`, () => {
      expect(rejection(signed(edit), "invalid_bundle")).toEqual({ pointer, reason });
    });
  }

  test("rejects an extends cycle", () => {
    const b = signed((b) => {
      b.content.profiles[0]!.extends = "coder";
    });
    expect(rejection(b, "invalid_bundle")).toEqual({ pointer: "/content/profiles/0/extends", reason: "extends_cycle" });
  });

  test("rejects a profile that extends itself", () => {
    const b = signed((b) => {
      b.content.profiles[1]!.extends = "coder";
    });
    expect(rejection(b, "invalid_bundle")).toEqual({ pointer: "/content/profiles/1/extends", reason: "extends_cycle" });
  });

  test("rejects a prompt whose digest is not the sha256 of its text", () => {
    const b = signed((b) => {
      b.content.prompts![0]!.digest = promptDigest("other text");
    });
    expect(rejection(b, "invalid_bundle")).toEqual({
      pointer: "/content/prompts/0/digest",
      reason: "prompt_digest_mismatch",
    });
  });

  test("accepts a prompt without a digest", () => {
    const b = signed((b) => {
      delete b.content.prompts![0]!.digest;
    });
    expect(verifyBundle(b).digest).toBe(b.metadata.digest);
  });

  test("rejects content.workspace.id that differs from metadata.workspaceId", () => {
    const b = signed((b) => {
      b.content.workspace.id = "other";
    });
    expect(rejection(b, "invalid_bundle")).toEqual({ pointer: "/content/workspace/id", reason: "workspace_mismatch" });
  });

  test("only workspace and profiles are required", () => {
    const b = signed((b) => {
      b.content = { workspace: { id: "acme", name: "Acme" }, profiles: [{ name: "solo" }] };
    });
    expect(verifyBundle(b).bundle.content.profiles).toEqual([{ name: "solo" }]);
  });
});
