/**
 * The command line of the compiled executable (contract §2): help/version, start-up
 * refusals (exit 2, one line naming the flag, nothing listening), the offline `bundle`
 * subcommands, and environment twins.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundleDigest } from "../../src/bundle/digest.ts";
import { cleanup, client, EXAMPLES, linesOf, makeBundle, runCli, spawn, tempDir } from "./harness.ts";

afterAll(cleanup);

test("the executable prints its version", async () => {
  const r = await runCli(["--version"]);
  expect(r.exitCode).toBe(0);
  expect(r.stdout).toMatch(/^bundlesync \d+\.\d+\.\d+/);
  expect(r.stderr).toBe("");
});

test("--help prints usage naming both modes and the bundle subcommands, exit 0", async () => {
  const r = await runCli(["--help"]);
  expect(r.exitCode).toBe(0);
  expect(r.stdout).toContain("--mode runtime");
  expect(r.stdout).toContain("--mode backend");
  expect(r.stdout).toContain("bundle build DIR");
  expect(r.stdout).toContain("bundle digest FILE");
  expect(r.stderr).toBe("");
});

describe("start-up refusals: exit 2, one stderr line naming the flag, nothing listening", () => {
  const dir = tempDir();
  const goodToken = join(dir, "token");
  writeFileSync(goodToken, "a-good-token-123456\n");
  const badPolicy = join(dir, "bad-policy.json");
  writeFileSync(badPolicy, JSON.stringify({ requireBundle: "yes" }));
  const unknownKeyPolicy = join(dir, "unknown-key.yaml");
  writeFileSync(unknownKeyPolicy, "shell: true\nsurprise: 1\n");
  const brokenYaml = join(dir, "broken.yaml");
  writeFileSync(brokenYaml, "secrets: [\n");
  const unknownBuiltin = join(dir, "unknown-builtin.yaml");
  writeFileSync(unknownBuiltin, "builtinProfiles: [companion, wizard]\n");
  const shortToken = join(dir, "short-token");
  writeFileSync(shortToken, "short\n");
  const aFile = join(dir, "a-file");
  writeFileSync(aFile, "not a directory");
  const listen = ["--listen", "127.0.0.1:0"];

  const cases: [string, string[], RegExp][] = [
    ["an unknown flag", ["--mode", "runtime", ...listen, "--bogus"], /--bogus/],
    ["a positional argument", ["--mode", "runtime", ...listen, "extra"], /extra/],
    ["a missing --mode", [...listen], /--mode/],
    ["an invalid --mode", ["--mode", "sideways", ...listen], /--mode/],
    ["a malformed --listen", ["--mode", "runtime", "--listen", "localhost"], /--listen/],
    ["a --listen port out of range", ["--mode", "runtime", "--listen", "127.0.0.1:70000"], /--listen/],
    [
      "a missing --host-policy file",
      ["--mode", "runtime", ...listen, "--host-policy", join(dir, "nope")],
      /--host-policy/,
    ],
    ["a --host-policy that is a directory", ["--mode", "runtime", ...listen, "--host-policy", dir], /--host-policy/],
    [
      "a --host-policy with a wrong type",
      ["--mode", "runtime", ...listen, "--host-policy", badPolicy],
      /--host-policy/,
    ],
    [
      "a --host-policy with an unknown key",
      ["--mode", "runtime", ...listen, "--host-policy", unknownKeyPolicy],
      /--host-policy/,
    ],
    [
      "a --host-policy that is not YAML",
      ["--mode", "runtime", ...listen, "--host-policy", brokenYaml],
      /--host-policy/,
    ],
    [
      "a --host-policy naming an unknown builtin profile",
      ["--mode", "runtime", ...listen, "--host-policy", unknownBuiltin],
      /--host-policy/,
    ],
    ["a missing --token-file", ["--mode", "runtime", ...listen, "--token-file", join(dir, "nope")], /--token-file/],
    ["a --token-file that is a directory", ["--mode", "runtime", ...listen, "--token-file", dir], /--token-file/],
    ["a too-short token", ["--mode", "runtime", ...listen, "--token-file", shortToken], /--token-file/],
    ["a non-loopback --listen without a token", ["--mode", "runtime", "--listen", "0.0.0.0:0"], /--listen/],
    ["a --data that is a regular file", ["--mode", "runtime", ...listen, "--data", aFile], /--data/],
  ];

  for (const [what, args, names] of cases) {
    test(`refuses ${what}`, async () => {
      const r = await runCli(args);
      expect(r.exitCode).toBe(2);
      const lines = linesOf(r.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(names);
      expect(r.stdout).not.toContain('"event":"listening"');
      expect(r.stdout).toBe("");
    });
  }

  test("a --listen address already in use is refused with exit 2, not shared", async () => {
    const first = await spawn("runtime", ["--listen", "127.0.0.1:0", "--data", join(tempDir(), "data")]);
    try {
      const port = new URL(first.url).port;
      const r = await runCli(["--mode", "runtime", "--listen", `127.0.0.1:${port}`, "--data", join(tempDir(), "d")]);
      expect(r.exitCode).toBe(2);
      expect(linesOf(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain("--listen");
      expect(r.stdout).toBe("");
      expect(await first.stop()).toBe(0);
    } finally {
      await first.kill();
    }
  });

  test("a non-loopback --listen starts with a token file (auth on) ", async () => {
    const rt = await spawn("runtime", [
      "--listen",
      "0.0.0.0:0",
      "--data",
      join(tempDir(), "d"),
      "--token-file",
      goodToken,
    ]);
    try {
      const port = new URL(rt.url).port;
      const open = await client(`http://127.0.0.1:${port}`).request("GET", "/v1/runtime");
      expect(open.status).toBe(401);
      expect(await rt.stop()).toBe(0);
    } finally {
      await rt.kill();
    }
  });
});

describe("bundle subcommands", () => {
  const dir = tempDir();

  test("bundle digest FILE prints the recomputed digest", async () => {
    const b = makeBundle();
    const file = join(dir, "b.json");
    writeFileSync(file, JSON.stringify(b, null, 2));
    const r = await runCli(["bundle", "digest", file]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${bundleDigest(b)}\n`);
    expect(r.stdout.trim()).toBe(b.metadata.digest);
  });

  test("bundle digest - reads stdin", async () => {
    const b = makeBundle();
    const r = await runCli(["bundle", "digest", "-"], { stdin: JSON.stringify(b) });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${bundleDigest(b)}\n`);
  });

  test("bundle digest recomputes rather than trusting metadata.digest", async () => {
    const b = makeBundle();
    const claimed = makeBundle().metadata.digest;
    const tampered = { ...b, metadata: { ...b.metadata, digest: claimed, revision: 99 } };
    const r = await runCli(["bundle", "digest", "-"], { stdin: JSON.stringify(tampered) });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe(b.metadata.digest);
    expect(r.stdout.trim()).not.toBe(claimed);
  });

  test("bundle digest of a missing file or of non-JSON exits 2 with one line", async () => {
    const missing = await runCli(["bundle", "digest", join(dir, "missing.json")]);
    expect(missing.exitCode).toBe(2);
    expect(linesOf(missing.stderr)).toHaveLength(1);
    expect(missing.stdout).toBe("");
    const notJson = await runCli(["bundle", "digest", "-"], { stdin: "{ not json" });
    expect(notJson.exitCode).toBe(2);
    expect(linesOf(notJson.stderr)).toHaveLength(1);
    expect(notJson.stdout).toBe("");
  });

  test("bundle build examples/workspace prints a bundle whose digest bundle digest agrees with", async () => {
    const built = await runCli(["bundle", "build", join(EXAMPLES, "workspace")]);
    expect(built.exitCode).toBe(0);
    const bundle = JSON.parse(built.stdout);
    expect(bundle.metadata.id).toEqual(expect.any(String));
    expect(bundle.metadata.workspaceId).toBe("acme");
    expect(bundle.metadata.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(bundleDigest(bundle)).toBe(bundle.metadata.digest);

    const file = join(dir, "built.json");
    writeFileSync(file, built.stdout);
    const digest = await runCli(["bundle", "digest", file]);
    expect(digest.exitCode).toBe(0);
    expect(digest.stdout.trim()).toBe(bundle.metadata.digest);

    // same directory, same bundle id and digest
    const again = await runCli(["bundle", "build", join(EXAMPLES, "workspace")]);
    expect(JSON.parse(again.stdout).metadata.digest).toBe(bundle.metadata.digest);
  });

  test("the bundle built from examples/workspace is accepted by a runtime under its digest", async () => {
    const built = await runCli(["bundle", "build", join(EXAMPLES, "workspace")]);
    const bundle = JSON.parse(built.stdout);
    const rt = await spawn("runtime", ["--listen", "127.0.0.1:0", "--data", join(tempDir(), "d")]);
    try {
      const put = await client(rt.url).request("PUT", `/v1/config-bundles/${bundle.metadata.digest}`, built.stdout);
      expect(put.status).toBe(201);
      expect(await rt.stop()).toBe(0);
    } finally {
      await rt.kill();
    }
  });

  test("bundle build of a missing directory, and a bad subcommand, exit 2 with one line", async () => {
    const missing = await runCli(["bundle", "build", join(dir, "no-such-workspace")]);
    expect(missing.exitCode).toBe(2);
    expect(linesOf(missing.stderr)).toHaveLength(1);
    const bad = await runCli(["bundle", "explode", "x"]);
    expect(bad.exitCode).toBe(2);
    expect(linesOf(bad.stderr)).toHaveLength(1);
    expect(bad.stderr).toContain("bundle");
  });
});

describe("environment twins", () => {
  test("BUNDLESYNC_MODE, BUNDLESYNC_LISTEN and BUNDLESYNC_DATA start a runtime", async () => {
    const cwd = tempDir();
    const data = join(tempDir(), "env-data");
    const rt = await spawn(
      null,
      [],
      { BUNDLESYNC_MODE: "runtime", BUNDLESYNC_LISTEN: "127.0.0.1:0", BUNDLESYNC_DATA: data },
      { cwd },
    );
    try {
      expect(rt.listeningLine()?.mode).toBe("runtime");
      expect((await client(rt.url).request("GET", "/healthz")).status).toBe(200);
      expect(existsSync(join(data, "runtime.sqlite"))).toBe(true);
      expect(existsSync(join(cwd, "data"))).toBe(false);
      expect(await rt.stop()).toBe(0);
    } finally {
      await rt.kill();
    }
  });

  test("flags beat their environment twins", async () => {
    const cwd = tempDir();
    const envData = join(tempDir(), "env-data");
    const flagData = join(tempDir(), "flag-data");
    const rt = await spawn(
      null,
      ["--mode", "runtime", "--listen", "127.0.0.1:0", "--data", flagData],
      { BUNDLESYNC_MODE: "backend", BUNDLESYNC_LISTEN: "not-an-address", BUNDLESYNC_DATA: envData },
      { cwd },
    );
    try {
      expect(rt.listeningLine()?.mode).toBe("runtime");
      expect(existsSync(join(flagData, "runtime.sqlite"))).toBe(true);
      expect(existsSync(envData)).toBe(false);
      expect(await rt.stop()).toBe(0);
    } finally {
      await rt.kill();
    }
  });

  test("without --data the store defaults to ./data/runtime under the working directory", async () => {
    const cwd = tempDir();
    const rt = await spawn("runtime", ["--listen", "127.0.0.1:0"], {}, { cwd });
    try {
      expect(existsSync(join(cwd, "data", "runtime", "runtime.sqlite"))).toBe(true);
      expect(await rt.stop()).toBe(0);
    } finally {
      await rt.kill();
    }
  });

  test("BUNDLESYNC_TOKEN_FILE and BUNDLESYNC_RUNTIME_TOKEN turn auth on", async () => {
    const dir = tempDir();
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "env-file-token-123456\n");
    mkdirSync(join(dir, "d1"));
    const viaFile = await spawn("runtime", ["--listen", "127.0.0.1:0", "--data", join(dir, "d1")], {
      BUNDLESYNC_TOKEN_FILE: tokenFile,
    });
    const viaValue = await spawn("runtime", ["--listen", "127.0.0.1:0", "--data", join(dir, "d2")], {
      BUNDLESYNC_RUNTIME_TOKEN: "env-value-token-123456",
    });
    try {
      expect((await client(viaFile.url).request("GET", "/v1/runtime")).status).toBe(401);
      expect((await client(viaFile.url, "env-file-token-123456").request("GET", "/v1/runtime")).status).toBe(200);
      expect((await client(viaValue.url).request("GET", "/v1/runtime")).status).toBe(401);
      expect((await client(viaValue.url, "env-value-token-123456").request("GET", "/v1/runtime")).status).toBe(200);
      expect(await viaFile.stop()).toBe(0);
      expect(await viaValue.stop()).toBe(0);
    } finally {
      await viaFile.kill();
      await viaValue.kill();
    }
  });

  test("an invalid BUNDLESYNC_MODE is refused with exit 2 naming --mode", async () => {
    const r = await runCli([], { env: { BUNDLESYNC_MODE: "sideways", BUNDLESYNC_LISTEN: "127.0.0.1:0" } });
    expect(r.exitCode).toBe(2);
    expect(linesOf(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain("--mode");
    expect(r.stdout).toBe("");
  });
});

test("SIGINT also stops the runtime with exit 0", async () => {
  const rt = await spawn("runtime", ["--listen", "127.0.0.1:0", "--data", join(tempDir(), "d")]);
  try {
    rt.proc.kill("SIGINT");
    expect(await rt.exited()).toBe(0);
  } finally {
    await rt.kill();
  }
});
