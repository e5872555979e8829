import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { buildWorkspace, SourceError } from "../../src/bundle/build.ts";
import { bundleDigest } from "../../src/bundle/digest.ts";
import { verifyBundle } from "../../src/bundle/validate.ts";

const EXAMPLE = join(import.meta.dir, "..", "..", "examples", "workspace");
const root = mkdtempSync(join(tmpdir(), "bundlesync-build-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function freshDir(): string {
  const dir = join(root, `ws-${n++}`);
  mkdirSync(dir);
  return dir;
}

function copyExample(): string {
  const dir = freshDir();
  cpSync(EXAMPLE, dir, { recursive: true });
  return dir;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

const OPTS = { revision: 3, createdAt: "2026-11-24T10:00:00Z" };

function sourceError(dir: string): SourceError {
  let caught: unknown;
  try {
    buildWorkspace(dir, OPTS);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SourceError);
  const err = caught as SourceError;
  expect(err.message).not.toContain(dir);
  expect(err.message).not.toContain(root);
  return err;
}

function edit(dir: string, rel: string, change: (text: string) => string) {
  const file = join(dir, rel);
  writeFileSync(file, change(readFileSync(file, "utf8")));
}

describe("building the example workspace", () => {
  test("gives a bundle whose digest is the contract's digest and that passes store-time validation", () => {
    const { bundle, digest } = buildWorkspace(copyExample(), OPTS);
    expect(bundle.metadata).toMatchObject({ id: "acme.default", workspaceId: "acme", revision: 3, digest });
    expect(bundleDigest(bundle)).toBe(digest);
    expect(verifyBundle(structuredClone(bundle)).digest).toBe(digest);
  });

  test("gives the same digest on two builds of the same directory", () => {
    const dir = copyExample();
    const a = buildWorkspace(dir, { revision: 1, createdAt: "2026-01-01T00:00:00Z" });
    const b = buildWorkspace(dir, { revision: 2, createdAt: "2026-06-01T00:00:00Z" });
    expect(b.digest).toBe(a.digest);
  });

  test("gives the same digest from a copy whose files were created in reverse order", () => {
    const forward = copyExample();
    const reversed = freshDir();
    const files = filesUnder(EXAMPLE);
    expect(files.length).toBeGreaterThan(5);
    for (const rel of [...files].reverse()) {
      mkdirSync(dirname(join(reversed, rel)), { recursive: true });
      writeFileSync(join(reversed, rel), readFileSync(join(EXAMPLE, rel)));
    }
    expect(filesUnder(reversed)).toEqual(files);
    expect(buildWorkspace(reversed, OPTS).digest).toBe(buildWorkspace(forward, OPTS).digest);
  });

  test("gives the same digest from another directory path", () => {
    expect(buildWorkspace(copyExample(), OPTS).digest).toBe(buildWorkspace(copyExample(), OPTS).digest);
  });

  test("gives a different digest when a prompt changes", () => {
    const dir = copyExample();
    const before = buildWorkspace(dir, OPTS).digest;
    edit(dir, "prompts/coder-system.md", (t) => `${t}Always run the linter.\n`);
    expect(buildWorkspace(dir, OPTS).digest).not.toBe(before);
  });

  test("gives a different digest when a profile field changes", () => {
    const dir = copyExample();
    const before = buildWorkspace(dir, OPTS).digest;
    edit(dir, "profiles/researcher.yaml", (t) => t.replace("language: ja", "language: en"));
    expect(buildWorkspace(dir, OPTS).digest).not.toBe(before);
  });

  test("ignores hidden files and files with other extensions", () => {
    const dir = copyExample();
    const before = buildWorkspace(dir, OPTS).digest;
    writeFileSync(join(dir, "profiles", ".draft.yaml"), "name: draft\n");
    writeFileSync(join(dir, "profiles", "notes.txt"), "not a profile\n");
    expect(buildWorkspace(dir, OPTS).digest).toBe(before);
  });
});

describe("invalid sources", () => {
  test("bad YAML names the file and not the directory", () => {
    const dir = copyExample();
    writeFileSync(join(dir, "profiles", "coder.yaml"), "name: coder\nprompts: [unclosed\n  : :\n");
    const err = sourceError(dir);
    expect(err.message).toStartWith("profiles/coder.yaml: ");
  });

  test("a profile referencing an unknown prompt names its file and the rule", () => {
    const dir = copyExample();
    edit(dir, "profiles/coder.yaml", (t) =>
      t.replace("prompts: [coder-system]", "prompts: [coder-system, ghost-prompt]"),
    );
    const err = sourceError(dir);
    expect(err.code).toBe("invalid_bundle");
    expect(err.message).toStartWith("profiles/coder.yaml: ");
    expect(err.message).toContain("unknown_prompt");
  });

  test("a host path in a profile field names the file and the rule, not the value", () => {
    const dir = copyExample();
    const value = "/home/builder/secret-checkout";
    edit(dir, "profiles/coder.yaml", (t) => t.replace("name: coder", `name: coder\nlanguage: ${value}`));
    const err = sourceError(dir);
    expect(err.code).toBe("forbidden_content");
    expect(err.message).toStartWith("profiles/coder.yaml: ");
    expect(err.message).toContain("host_path");
    expect(err.message).not.toContain(value);
  });

  test("a credential in a prompt names the prompt file, not the token", () => {
    const dir = copyExample();
    const token = `${"ghp_"}${"Q7w8E9r0T1".repeat(4)}`;
    edit(dir, "prompts/base-system.md", (t) => `${t}\nUse ${token} to push.\n`);
    const err = sourceError(dir);
    expect(err.message).toStartWith("prompts/base-system.md: ");
    expect(err.message).toContain("github_token");
    expect(err.message).not.toContain(token);
  });

  test("a host path used as a label key in workspace.yaml names the file, not the key", () => {
    const dir = copyExample();
    const value = "/srv/private-labels";
    edit(dir, "workspace.yaml", (t) => t.replace("team: platform", `team: platform\n    ${value}: x`));
    const err = sourceError(dir);
    expect(err.message).toStartWith("workspace.yaml: ");
    expect(err.message).not.toContain(value);
    expect(err.message).not.toContain("private-labels");
  });

  test("an unknown property whose key is a path names the file, not the key", () => {
    const dir = copyExample();
    edit(dir, "profiles/reviewer.yaml", (t) => `${t}/home/me/dotfiles: 1\n`);
    const err = sourceError(dir);
    expect(err.code).toBe("invalid_source");
    expect(err.message).toStartWith("profiles/reviewer.yaml: ");
    expect(err.message).not.toContain("/home/me");
    expect(err.message).not.toContain("home~1me");
  });

  test("a schema error in a plugin descriptor names the plugin file", () => {
    const dir = copyExample();
    edit(dir, "plugins/lint.yaml", (t) => t.replace(/digest: .*/, "digest: sha256:not-a-digest-sentinel"));
    const err = sourceError(dir);
    expect(err.message).toStartWith("plugins/lint.yaml: ");
    expect(err.message).not.toContain("not-a-digest-sentinel");
  });

  test("a missing workspace.yaml is a SourceError", () => {
    const dir = copyExample();
    rmSync(join(dir, "workspace.yaml"));
    expect(sourceError(dir).message).toStartWith("workspace.yaml: ");
  });

  test("a directory that does not exist is a SourceError without the path", () => {
    sourceError(join(root, "does-not-exist"));
  });
});
