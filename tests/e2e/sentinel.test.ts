/**
 * Leak scan (contract invariant 1, §3 "no error, log line or response ever echoes the
 * offending value", §4 GET /v1/runtime "never paths or values", §5 "actual mount paths
 * and secret values stay inside the runtime"). Host secrets, mount path, token, data dir
 * and forbidden bundle values are all distinctive sentinels; every endpoint is exercised
 * on its success and error paths, and no sentinel may appear in any response status line
 * body or header, nor in anything the process writes to stdout or stderr.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Bundle } from "../../src/bundle/model.ts";
import { declarations } from "../fixtures/bundles.ts";
import {
  cleanup,
  client,
  EXAMPLES,
  type HttpResult,
  makeBundle,
  runCli,
  type Server,
  seal,
  spawn,
  tempDir,
} from "./harness.ts";

afterAll(cleanup);

const SECRET_ENV_VALUE = "SENTINEL-SECRET-VALUE-7f3a";
const SECRET_FILE_VALUE = "SENTINEL-FILE-SECRET-c41d";
const SECRET_ENV_NAME = "BS_E2E_SENTINEL_ENVNAME_93ab";
const TOKEN = "SENTINEL-TOKEN-5e6f0a";
const WRONG_TOKEN = "SENTINEL-WRONG-TOKEN-aa21";

/** Offending values placed in bundles; errors must point at them, never echo them. */
const FORBIDDEN = {
  githubToken: "ghp_SENTINELGHTOKEN0123456789abcdefABCDEF",
  awsKey: "AKIASENTINEL7F3A0000",
  urlPassword: "SENTINELURLPASS9f",
  assignment: `API_KEY=${SECRET_ENV_VALUE}`,
  pem: "-----BEGIN RSA PRIVATE KEY-----\nSENTINELPEMBODY77\n-----END RSA PRIVATE KEY-----",
};

const base = tempDir("bundlesync-sentinel-");
const DATA = join(base, "SENTINEL-DATA-DIR-2c9e");
const MOUNT_PATH = join(base, "SENTINEL-MOUNT-PATH-4b1d");
const SECRET_FILE = join(base, "SENTINEL-SECRET-FILE-d82e");
const POLICY_FILE = join(base, "SENTINEL-POLICY-FILE-61b0.yaml");
const TOKEN_FILE = join(base, "SENTINEL-TOKEN-FILE-0c3e");

const SENTINELS: string[] = [
  SECRET_ENV_VALUE,
  SECRET_FILE_VALUE,
  SECRET_ENV_NAME,
  TOKEN,
  WRONG_TOKEN,
  base,
  DATA,
  MOUNT_PATH,
  SECRET_FILE,
  POLICY_FILE,
  TOKEN_FILE,
  "SENTINEL-DATA-DIR",
  "SENTINEL-MOUNT-PATH",
  "SENTINEL-SECRET-FILE",
  "SENTINEL-POLICY-FILE",
  "SENTINEL-TOKEN-FILE",
  "SENTINELGHTOKEN",
  "AKIASENTINEL",
  "SENTINELURLPASS",
  "SENTINELPEMBODY",
];

function leaks(text: string): string[] {
  return SENTINELS.filter((s) => text.includes(s));
}

/** Every response seen: the label is the request (which may carry sentinels), text is what came back. */
const seen: { label: string; text: string }[] = [];

function record(label: string, r: HttpResult): HttpResult {
  const headers = [...r.headers.entries()].map(([k, v]) => `${k}: ${v}`).join("\n");
  seen.push({ label, text: `${r.status}\n${headers}\n${r.text}` });
  return r;
}

function expectNoLeak(label: string, text: string) {
  expect({ label, leaked: leaks(text) }).toEqual({ label, leaked: [] });
}

mkdirSync(MOUNT_PATH);
writeFileSync(SECRET_FILE, `${SECRET_FILE_VALUE}\n`);
writeFileSync(TOKEN_FILE, `${TOKEN}\n`);
writeFileSync(
  POLICY_FILE,
  [
    "requireBundle: false",
    "secrets:",
    `  env-key: { env: ${SECRET_ENV_NAME} }`,
    `  file-key: { file: ${JSON.stringify(SECRET_FILE)} }`,
    "  absent-key: { env: BS_E2E_NOT_SET_ANYWHERE }",
    "mounts:",
    `  repo: { path: ${JSON.stringify(MOUNT_PATH)}, readOnly: false }`,
    "network: [github]",
    "shell: true",
    "git: false",
    "capabilities: [shell]",
    "plugins: { allowAll: false }",
    "limits: { maxBundleBytes: 65536, maxBundles: 1000 }",
    "",
  ].join("\n"),
);

/** A bundle whose profiles need the host's secrets and mount, and some the host refuses. */
function hostBundle(): Bundle {
  const b = makeBundle({
    id: "sentinel.main",
    workspaceId: "sentinel",
    content: {
      models: [{ name: "default", provider: "anthropic", model: "claude-sonnet", credential: "secret:env-key" }],
      declarations: declarations({
        secrets: { "env-key": "env-key", "file-key": "file-key", absent: "absent-key" },
        mounts: ["repo", "elsewhere"],
        network: ["github"],
        git: true,
        capabilities: ["browser"],
      }),
    },
  });
  b.content.profiles.push(
    { name: "operator", extends: "base", model: "default", requires: ["env-key", "file-key", "repo", "github"] },
    { name: "needs-absent", extends: "base", requires: ["absent"] },
    { name: "needs-elsewhere", extends: "base", requires: ["elsewhere"] },
    { name: "needs-git", extends: "base", requires: ["git"] },
    { name: "needs-browser", extends: "base", requires: ["browser"] },
  );
  return seal(b);
}

/** A valid bundle edited by `edit` to carry a forbidden value, then re-sealed. */
function forbidden(edit: (b: Bundle) => void): Bundle {
  const b = makeBundle({ workspaceId: "sentinel" });
  edit(b);
  return seal(b);
}

describe("no sentinel leaves the runtime", () => {
  let rt: Server;

  beforeAll(async () => {
    rt = await spawn(
      "runtime",
      ["--listen", "127.0.0.1:0", "--data", DATA, "--host-policy", POLICY_FILE, "--token-file", TOKEN_FILE],
      { [SECRET_ENV_NAME]: SECRET_ENV_VALUE },
    );
  });

  afterAll(async () => {
    await rt?.kill();
  });

  test("every endpoint, on success and error paths, answers without a sentinel", async () => {
    const api = client(rt.url, TOKEN);
    const call = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      record(`${method} ${path}`, await api.request(method, path, body, headers));

    // auth failures
    for (const auth of [
      `Bearer ${WRONG_TOKEN}`,
      `Basic ${WRONG_TOKEN}`,
      WRONG_TOKEN,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
    ]) {
      const r = record("auth", await client(rt.url).request("GET", "/v1/runtime", undefined, { authorization: auth }));
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe("unauthorized");
    }
    expect(record("no auth", await client(rt.url).request("GET", "/v1/workers")).status).toBe(401);
    expect(record("no auth openapi", await client(rt.url).request("GET", "/openapi/json")).status).toBe(401);

    // open and informational endpoints
    expect((await call("GET", "/healthz")).status).toBe(200);
    const info = await call("GET", "/v1/runtime");
    expect(info.status).toBe(200);
    expect(info.json.runtime.policy.secrets).toEqual(["env-key", "file-key", "absent-key"]);
    expect(info.json.runtime.policy.mounts).toEqual(["repo"]);
    await call("GET", "/openapi");
    await call("GET", "/openapi/json");
    await call("GET", "/openapi.json");

    // bundles: success paths
    const b = hostBundle();
    const d = b.metadata.digest;
    expect((await call("PUT", `/v1/config-bundles/${d}`, b)).status).toBe(201);
    expect((await call("PUT", `/v1/config-bundles/${d}`, b)).status).toBe(200);
    expect((await call("GET", `/v1/config-bundles/${d}`)).status).toBe(200);
    expect((await call("GET", `/v1/config-bundles/${d}`, undefined, { "if-none-match": `"${d}"` })).status).toBe(304);
    expect((await call("HEAD", `/v1/config-bundles/${d}`)).status).toBe(200);
    expect((await call("GET", "/v1/config-bundles?workspaceId=sentinel")).status).toBe(200);
    expect((await call("GET", "/v1/config-bundles?id=sentinel.main")).status).toBe(200);
    const avail = await call("POST", "/v1/config-bundles/availability", {
      refs: [
        { id: "sentinel.main", digest: d },
        { id: "sentinel.main", digest: makeBundle().metadata.digest },
        { id: "nobody", digest: makeBundle().metadata.digest },
      ],
    });
    expect(avail.json.results.map((x: { status: string }) => x.status)).toEqual([
      "available",
      "digest_mismatch",
      "missing",
    ]);

    // workers that use the host's secrets and mount
    const ref = { id: b.metadata.id, digest: d };
    const op = await call("POST", "/v1/workers", {
      workerId: "w-operator",
      profile: { kind: "named", name: "operator" },
      configBundle: ref,
      requiredCapabilities: ["shell"],
    });
    expect(op.status).toBe(201);
    expect(op.json.worker.mode).toBe("bundle");
    expect(op.json.worker.spec.mounts).toEqual([{ name: "repo", readOnly: false }]);
    expect(op.json.worker.spec.model.credential).toEqual({ ref: "secret:env-key", available: true });
    expect((await call("POST", "/v1/workers", { profile: { kind: "builtin", name: "companion" } })).status).toBe(201);
    expect((await call("POST", "/v1/workers", { profile: { kind: "builtin", name: "coder" } })).status).toBe(403);

    // worker error paths
    const expectCode = async (body: unknown, status: number, code: string) => {
      const r = await call("POST", "/v1/workers", body);
      expect({ status: r.status, code: r.json?.error?.code }).toEqual({ status, code });
    };
    await expectCode(
      { profile: { kind: "named", name: "needs-absent" }, configBundle: ref },
      422,
      "secret_unavailable",
    );
    await expectCode({ profile: { kind: "named", name: "needs-elsewhere" }, configBundle: ref }, 403, "grant_denied");
    await expectCode({ profile: { kind: "named", name: "needs-git" }, configBundle: ref }, 403, "grant_denied");
    await expectCode(
      { profile: { kind: "named", name: "needs-browser" }, configBundle: ref },
      403,
      "capability_denied",
    );
    await expectCode(
      { profile: { kind: "named", name: "assistant" }, configBundle: ref, requiredCapabilities: ["browser"] },
      403,
      "capability_denied",
    );
    await expectCode({ profile: { kind: "named", name: "ghost" }, configBundle: ref }, 422, "invalid_profile");
    await expectCode({ profile: { kind: "named", name: "operator" } }, 422, "bundle_required");
    await expectCode(
      {
        profile: { kind: "named", name: "operator" },
        configBundle: { id: "sentinel.main", digest: makeBundle().metadata.digest },
      },
      409,
      "config_bundle_digest_mismatch",
    );
    await expectCode(
      {
        profile: { kind: "named", name: "operator" },
        configBundle: { id: "nobody", digest: makeBundle().metadata.digest },
      },
      404,
      "config_bundle_missing",
    );
    await expectCode(
      { workerId: "w-operator", profile: { kind: "named", name: "assistant" }, configBundle: ref },
      409,
      "worker_conflict",
    );
    await expectCode(
      { workerId: SECRET_FILE, profile: { kind: "builtin", name: "companion" } },
      400,
      "invalid_request",
    );
    await expectCode(
      { profile: { kind: "builtin", name: "companion" }, intent: { goal: 1 }, extra: TOKEN },
      400,
      "invalid_request",
    );

    expect((await call("GET", "/v1/workers")).status).toBe(200);
    expect((await call("GET", "/v1/workers/w-operator")).status).toBe(200);
    expect((await call("GET", "/v1/workers/w-nobody")).status).toBe(404);
    expect((await call("GET", `/v1/workers/${encodeURIComponent(MOUNT_PATH)}`)).status).toBe(404);
    expect((await call("DELETE", `/v1/config-bundles/${d}`)).status).toBe(409);
    expect((await call("POST", "/v1/workers/w-operator/stop")).status).toBe(200);
    expect((await call("POST", "/v1/workers/w-operator/stop")).status).toBe(200);
    expect((await call("POST", "/v1/workers/w-nobody/stop")).status).toBe(404);

    // forbidden content: the offending value is a sentinel
    const rejections: [string, Bundle, number, string][] = [
      [
        "github token in prompt text",
        forbidden((x) => {
          x.content.prompts![0]!.text = `use ${FORBIDDEN.githubToken}`;
        }),
        422,
        "forbidden_content",
      ],
      [
        "aws key in a description",
        forbidden((x) => {
          x.content.profiles[0]!.description = `key ${FORBIDDEN.awsKey}`;
        }),
        422,
        "forbidden_content",
      ],
      [
        "url credentials in a plugin package",
        forbidden((x) => {
          x.content.plugins = [
            {
              name: "p",
              version: "1.0.0",
              package: `https://user:${FORBIDDEN.urlPassword}@example.com/p.tgz`,
              digest: makeBundle().metadata.digest,
            },
          ];
        }),
        422,
        "forbidden_content",
      ],
      [
        "secret assignment in a label",
        forbidden((x) => {
          x.content.workspace.project = { labels: { env: FORBIDDEN.assignment } };
        }),
        422,
        "forbidden_content",
      ],
      [
        "the host mount path as a model name",
        forbidden((x) => {
          x.content.profiles[1]!.model = MOUNT_PATH;
        }),
        422,
        "forbidden_content",
      ],
      [
        "the data dir as a tool name",
        forbidden((x) => {
          x.content.tools = [{ name: `${DATA}/runtime.sqlite`, kind: "builtin", policy: "allow" }];
        }),
        422,
        "forbidden_content",
      ],
      [
        "a PEM key in prompt text",
        forbidden((x) => {
          x.content.prompts![1]!.text = FORBIDDEN.pem;
        }),
        422,
        "forbidden_content",
      ],
      [
        "the secret file path as a declaration ref",
        forbidden((x) => {
          x.content.declarations = [{ kind: "mount_grant", name: "m", ref: `mount:${SECRET_FILE}` }];
        }),
        422,
        "forbidden_content",
      ],
    ];
    for (const [what, bundle, status, code] of rejections) {
      const r = await call("PUT", `/v1/config-bundles/${bundle.metadata.digest}`, bundle);
      expect({ what, status: r.status, code: r.json?.error?.code }).toEqual({ what, status, code });
      expect(r.json.error.details.pointer).toEqual(expect.any(String));
      expect(r.json.error.details.rule).toEqual(expect.any(String));
    }

    // other bundle error paths
    const other = makeBundle({ workspaceId: "sentinel" });
    const tampered = { ...other, metadata: { ...other.metadata, digest: makeBundle().metadata.digest } };
    expect((await call("PUT", `/v1/config-bundles/${other.metadata.digest}`, tampered)).status).toBe(409);
    expect((await call("PUT", `/v1/config-bundles/${makeBundle().metadata.digest}`, other)).status).toBe(409);
    expect((await call("PUT", `/v1/config-bundles/${other.metadata.digest}`, `{"x": "${TOKEN}"`)).status).toBe(400);
    expect(
      (await call("PUT", `/v1/config-bundles/${other.metadata.digest}`, { ...other, stray: SECRET_ENV_VALUE })).status,
    ).toBe(400);
    expect(
      (
        await call("PUT", `/v1/config-bundles/${other.metadata.digest}`, JSON.stringify(other), {
          "content-type": "text/plain",
        })
      ).status,
    ).toBe(415);
    const big = makeBundle({ workspaceId: "sentinel" });
    big.content.prompts![1]!.text = `${SECRET_FILE_VALUE} `.repeat(4000);
    seal(big);
    expect((await call("PUT", `/v1/config-bundles/${big.metadata.digest}`, big)).status).toBe(413);
    const v2 = { ...other, schemaVersion: 2 };
    expect((await call("PUT", `/v1/config-bundles/${other.metadata.digest}`, v2)).status).toBe(422);
    expect((await call("PUT", `/v1/config-bundles/${encodeURIComponent(TOKEN)}`, other)).status).toBe(400);
    expect((await call("GET", `/v1/config-bundles/${encodeURIComponent(SECRET_FILE)}`)).status).toBeGreaterThanOrEqual(
      400,
    );
    expect((await call("GET", `/v1/config-bundles/${makeBundle().metadata.digest}`)).status).toBe(404);
    expect((await call("HEAD", `/v1/config-bundles/${makeBundle().metadata.digest}`)).status).toBe(404);
    expect((await call("DELETE", `/v1/config-bundles/${makeBundle().metadata.digest}`)).status).toBe(404);
    expect((await call("POST", "/v1/config-bundles/availability", { refs: "x", why: TOKEN })).status).toBe(400);
    expect((await call("GET", `/v1/config-bundles?limit=${encodeURIComponent(SECRET_ENV_VALUE)}`)).status).toBe(400);
    expect((await call("GET", `/v1/${encodeURIComponent(SECRET_ENV_VALUE)}`)).status).toBe(404);
    expect((await call("PATCH", "/v1/workers")).status).toBe(405);

    // a stopped worker frees its bundle
    expect((await call("DELETE", `/v1/config-bundles/${d}`)).status).toBe(200);

    expect(seen.length).toBeGreaterThan(60);
    for (const r of seen) expectNoLeak(r.label, r.text);
  }, 60_000);

  test("stdout and stderr of the running process carry no sentinel", async () => {
    expect(await rt.stop()).toBe(0);
    expect(rt.stderr.length).toBeGreaterThan(0);
    expectNoLeak("runtime output", rt.output());
  });

  test("a restarted runtime still serves without leaking, and its logs carry no sentinel", async () => {
    rt = await spawn(
      "runtime",
      ["--listen", "127.0.0.1:0", "--data", DATA, "--host-policy", POLICY_FILE, "--token-file", TOKEN_FILE],
      { [SECRET_ENV_NAME]: SECRET_ENV_VALUE },
    );
    const api = client(rt.url, TOKEN);
    const w = record("restart worker", await api.request("GET", "/v1/workers/w-operator"));
    expect(w.status).toBe(200);
    expect(w.json.worker.status).toBe("stopped");
    expectNoLeak("restart worker", seen[seen.length - 1]!.text);
    await rt.kill(); // and after kill -9, nothing on the way out either
    expectNoLeak("restarted runtime output", rt.output());
  });
});

describe("start-up and offline failures whose offending value is a sentinel", () => {
  test("an invalid host policy value is named by field, not echoed", async () => {
    const dir = tempDir();
    const policy = join(dir, "SENTINEL-POLICY-FILE-bad.yaml");
    writeFileSync(
      policy,
      `mounts:\n  repo: { path: ${JSON.stringify(MOUNT_PATH)}, readOnly: "${SECRET_ENV_VALUE}" }\n`,
    );
    const r = await runCli(["--mode", "runtime", "--listen", "127.0.0.1:0", "--data", DATA, "--host-policy", policy]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--host-policy");
    expectNoLeak("bad policy", r.stdout + r.stderr);
  });

  test("a malformed token file is refused without echoing the token or its path", async () => {
    const dir = tempDir();
    const tokenFile = join(dir, "SENTINEL-TOKEN-FILE-bad");
    writeFileSync(tokenFile, `${TOKEN} ${TOKEN}\n`);
    const r = await runCli(["--mode", "runtime", "--listen", "127.0.0.1:0", "--data", DATA, "--token-file", tokenFile]);
    expect(r.exitCode).toBe(2);
    expectNoLeak("bad token", r.stdout + r.stderr);
  });

  test("an unusable --data is refused without echoing the path", async () => {
    const r = await runCli(["--mode", "runtime", "--listen", "127.0.0.1:0", "--data", SECRET_FILE]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--data");
    expectNoLeak("bad data", r.stdout + r.stderr);
  });

  test("bundle build of a workspace carrying a credential names the file, not the value", async () => {
    const ws = join(tempDir(), "SENTINEL-DATA-DIR-ws");
    cpSync(join(EXAMPLES, "workspace"), ws, { recursive: true });
    writeFileSync(join(ws, "prompts", "leaky.md"), `Use ${FORBIDDEN.githubToken} to push.\n`);
    const r = await runCli(["bundle", "build", ws]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("prompts/leaky.md");
    expectNoLeak("bundle build", r.stdout + r.stderr);
  });

  test("bundle digest of a bundle carrying secrets prints only the digest", async () => {
    const b = forbidden((x) => {
      x.content.prompts![0]!.text = `${SECRET_ENV_VALUE} ${FORBIDDEN.githubToken}`;
    });
    const r = await runCli(["bundle", "digest", "-"], { stdin: JSON.stringify(b) });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${b.metadata.digest}\n`);
  });
});
