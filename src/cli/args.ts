/**
 * Command-line flags and their environment twins (contract §2). Flags win over the
 * environment. Every problem is a `UsageError` with a one-line message naming the flag.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

export class UsageError extends Error {
  override name = "UsageError";
}

export interface Listen {
  host: string;
  port: number;
}

export interface ServerArgs {
  mode: "runtime" | "backend";
  listen: Listen;
  data: string;
  hostPolicy?: string;
  token?: string;
  insecureNoAuth: boolean;
  config?: string;
  workspaces: string[];
  noEmbeddedRuntime: boolean;
  apiToken?: string;
}

const OPTIONS = {
  mode: { type: "string" },
  listen: { type: "string" },
  data: { type: "string" },
  "host-policy": { type: "string" },
  "token-file": { type: "string" },
  "insecure-no-auth": { type: "boolean" },
  config: { type: "string" },
  workspace: { type: "string", multiple: true },
  "no-embedded-runtime": { type: "boolean" },
  "api-token-file": { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

const envName = (flag: string) => `BUNDLESYNC_${flag.toUpperCase().replaceAll("-", "_")}`;

export function parseListen(value: string, flag = "--listen"): Listen {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new UsageError(`${flag}: expected HOST:PORT`);
  return { host: (m[1] ?? m[2])!, port };
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

export function readTokenFile(path: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`${flag}: cannot read the token file`);
  }
  const token = text.trim();
  if (token.length < 8 || /\s/.test(token))
    throw new UsageError(`${flag}: the token must be at least 8 characters with no whitespace`);
  return token;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v);
}

export type Parsed =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "bundle"; command: "build" | "digest"; arg: string }
  | { kind: "server"; args: ServerArgs };

export function parseCommandLine(argv: string[], env: Record<string, string | undefined> = process.env): Parsed {
  if (argv[0] === "bundle") {
    const [, command, arg, ...rest] = argv;
    if ((command !== "build" && command !== "digest") || arg === undefined || rest.length > 0) {
      throw new UsageError("bundle: usage: bundlesync bundle build DIR | bundlesync bundle digest FILE");
    }
    return { kind: "bundle", command, arg };
  }
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : "bad arguments";
    throw new UsageError(msg ?? "bad arguments");
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };

  const str = (flag: keyof typeof OPTIONS): string | undefined => {
    const v = values[flag];
    if (typeof v === "string") return v;
    const e = env[envName(flag)];
    return e === undefined || e === "" ? undefined : e;
  };
  const bool = (flag: keyof typeof OPTIONS): boolean => values[flag] === true || truthy(env[envName(flag)]);

  const mode = str("mode");
  if (mode !== "runtime" && mode !== "backend") throw new UsageError("--mode: expected runtime or backend");
  const listen = parseListen(str("listen") ?? (mode === "runtime" ? "127.0.0.1:38800" : "127.0.0.1:38700"));

  const token =
    mode === "runtime"
      ? str("token-file") !== undefined
        ? readTokenFile(str("token-file")!, "--token-file")
        : env.BUNDLESYNC_RUNTIME_TOKEN || undefined
      : undefined;
  const apiToken =
    mode === "backend"
      ? str("api-token-file") !== undefined
        ? readTokenFile(str("api-token-file")!, "--api-token-file")
        : env.BUNDLESYNC_API_TOKEN || undefined
      : undefined;
  const insecureNoAuth = bool("insecure-no-auth");
  const secured = mode === "runtime" ? token : apiToken;
  if (secured === undefined && !isLoopback(listen.host) && !insecureNoAuth) {
    throw new UsageError(
      `--listen: refusing to serve without a token on a non-loopback address (give ${mode === "runtime" ? "--token-file" : "--api-token-file"} or --insecure-no-auth)`,
    );
  }
  const envWorkspaces = env.BUNDLESYNC_WORKSPACE?.split(",").filter((s) => s !== "") ?? [];
  const flagWorkspaces = values.workspace as string[] | undefined;
  return {
    kind: "server",
    args: {
      mode,
      listen,
      data: str("data") ?? `./data/${mode}`,
      hostPolicy: str("host-policy"),
      token,
      insecureNoAuth,
      config: str("config"),
      workspaces: flagWorkspaces ?? envWorkspaces,
      noEmbeddedRuntime: bool("no-embedded-runtime"),
      apiToken,
    },
  };
}

export const HELP = `bundlesync — config bundles from an agent platform backend to the runtimes that run its Workers

Usage:
  bundlesync --mode runtime [--listen HOST:PORT] [--data DIR] [--host-policy FILE] [--token-file FILE]
                            [--insecure-no-auth]
  bundlesync --mode backend [--listen HOST:PORT] [--data DIR] [--config FILE] [--workspace DIR]...
                            [--no-embedded-runtime] [--host-policy FILE] [--api-token-file FILE]
  bundlesync bundle build DIR     print the bundle built from a workspace directory
  bundlesync bundle digest FILE   print the recomputed digest of a bundle file ("-" = stdin)
  bundlesync --help | --version

Every flag has an environment twin: BUNDLESYNC_MODE, BUNDLESYNC_LISTEN, BUNDLESYNC_DATA,
BUNDLESYNC_HOST_POLICY, BUNDLESYNC_TOKEN_FILE, BUNDLESYNC_CONFIG, BUNDLESYNC_WORKSPACE (comma
separated), BUNDLESYNC_NO_EMBEDDED_RUNTIME, BUNDLESYNC_API_TOKEN_FILE, BUNDLESYNC_INSECURE_NO_AUTH;
tokens may also be given as BUNDLESYNC_RUNTIME_TOKEN / BUNDLESYNC_API_TOKEN. Flags win.
`;
