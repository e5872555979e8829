/**
 * Backend configuration (contract §7): `--config FILE` (YAML) and/or `--workspace DIR`
 * flags. Relative paths in the file are taken from the file's own directory.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Static, Type as T } from "@sinclair/typebox";
import { ID_PATTERN } from "../bundle/model.ts";
import { readTokenFile, UsageError } from "../cli/args.ts";
import { ConfigError, checkDocument, readDocument } from "../config/load.ts";

/** http(s)://host[:port][/path], never with user:password@ (an endpoint is shown to operators). */
export const ENDPOINT_PATTERN = "^https?://[^\\s/?#@]+(/[^\\s?#@]*)?$";

const Visibility = T.Array(T.String({ minLength: 1, maxLength: 128 }), { maxItems: 1024 });

export const BackendConfigFile = T.Object(
  {
    workspaces: T.Optional(T.Array(T.Object({ source: T.String({ minLength: 1 }) }, { additionalProperties: false }))),
    runtimes: T.Optional(
      T.Array(
        T.Object(
          {
            id: T.String({ pattern: ID_PATTERN }),
            name: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
            kind: T.Optional(T.Union([T.Literal("embedded"), T.Literal("remote")])),
            endpoint: T.Optional(T.String({ pattern: ENDPOINT_PATTERN, maxLength: 2048 })),
            tokenFile: T.Optional(T.String({ minLength: 1 })),
            workspaces: T.Optional(Visibility),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    sync: T.Optional(
      T.Object(
        {
          reconcileSeconds: T.Optional(T.Number({ exclusiveMinimum: 0 })),
          healthSeconds: T.Optional(T.Number({ exclusiveMinimum: 0 })),
          retryBaseMs: T.Optional(T.Integer({ minimum: 1 })),
          retryMaxMs: T.Optional(T.Integer({ minimum: 1 })),
          debounceMs: T.Optional(T.Integer({ minimum: 0 })),
          requestTimeoutMs: T.Optional(T.Integer({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
type BackendConfigFile = Static<typeof BackendConfigFile>;

export interface RuntimeConfig {
  id: string;
  name: string;
  kind: "embedded" | "remote";
  endpoint?: string;
  token?: string;
  workspaces: string[];
}

export interface SyncConfig {
  reconcileSeconds: number;
  healthSeconds: number;
  retryBaseMs: number;
  retryMaxMs: number;
  debounceMs: number;
  requestTimeoutMs: number;
}

export interface BackendConfig {
  workspaceDirs: string[];
  runtimes: RuntimeConfig[];
  sync: SyncConfig;
}

export const DEFAULT_SYNC: SyncConfig = {
  reconcileSeconds: 30,
  healthSeconds: 5,
  retryBaseMs: 500,
  retryMaxMs: 30_000,
  debounceMs: 100,
  requestTimeoutMs: 10_000,
};

function checkDir(dir: string, label: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(`${label}: not a readable directory`);
  return dir;
}

export function loadBackendConfig(opts: { config?: string; workspaces: string[]; embedded: boolean }): BackendConfig {
  let file: BackendConfigFile = {};
  let base = process.cwd();
  if (opts.config) {
    file = checkDocument(BackendConfigFile, readDocument(opts.config, "--config"), "--config") as BackendConfigFile;
    base = dirname(resolve(opts.config));
  }
  const workspaceDirs = [
    ...(file.workspaces ?? []).map((w, i) => checkDir(resolve(base, w.source), `--config: /workspaces/${i}/source`)),
    ...opts.workspaces.map((w) => checkDir(resolve(w), "--workspace")),
  ];
  if (new Set(workspaceDirs).size !== workspaceDirs.length)
    throw new ConfigError("--workspace: a directory is listed twice");

  const runtimes: RuntimeConfig[] = [];
  for (const [i, r] of (file.runtimes ?? []).entries()) {
    const kind = r.kind ?? (r.endpoint ? "remote" : "embedded");
    const at = `--config: /runtimes/${i}`;
    if (runtimes.some((x) => x.id === r.id)) throw new ConfigError(`${at}/id: duplicate runtime id`);
    if (kind === "remote" && !r.endpoint) throw new ConfigError(`${at}/endpoint: required for a remote runtime`);
    if (kind === "embedded" && r.endpoint) throw new ConfigError(`${at}/endpoint: an embedded runtime has no endpoint`);
    let token: string | undefined;
    if (r.tokenFile) {
      try {
        token = readTokenFile(resolve(base, r.tokenFile), `${at}/tokenFile`);
      } catch (e) {
        throw new ConfigError(e instanceof UsageError ? e.message : `${at}/tokenFile: cannot read`);
      }
    }
    runtimes.push({
      id: r.id,
      name: r.name ?? r.id,
      kind,
      endpoint: r.endpoint,
      token,
      workspaces: r.workspaces ?? ["*"],
    });
  }
  const embedded = runtimes.filter((r) => r.kind === "embedded");
  if (embedded.length > 1) throw new ConfigError("--config: /runtimes: at most one embedded runtime");
  if (opts.embedded && embedded.length === 0) {
    runtimes.unshift({ id: "local", name: "Local (embedded)", kind: "embedded", workspaces: ["*"] });
  }
  const sync = { ...DEFAULT_SYNC, ...file.sync };
  if (sync.retryMaxMs < sync.retryBaseMs)
    throw new ConfigError("--config: /sync/retryMaxMs: must be at least retryBaseMs");
  return {
    workspaceDirs,
    runtimes: opts.embedded ? runtimes : runtimes.filter((r) => r.kind !== "embedded"),
    sync,
  };
}

export function visibleTo(workspaces: string[], workspaceId: string): boolean {
  return workspaces.includes("*") || workspaces.includes(workspaceId);
}
