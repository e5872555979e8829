/**
 * Host policy (contract §6): which secrets, mounts, network, shell, git, plugins and
 * capabilities this host grants, and whether the builtin fallback is allowed. Secret
 * values and mount paths are read here and never leave the runtime.
 */
import { accessSync, constants } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Static, Type as T } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { BUILTIN_PROFILE_NAMES } from "../bundle/builtin.ts";
import type { HostView } from "../bundle/resolve.ts";
import { REF_NAME } from "../bundle/rules.ts";
import { schemaErrors } from "../bundle/validate.ts";
import { ConfigError, readDocument } from "../config/load.ts";

const Name = T.String({ pattern: REF_NAME.source, maxLength: 128 });

export const HostPolicyFile = T.Object(
  {
    requireBundle: T.Optional(T.Boolean()),
    builtinProfiles: T.Optional(T.Array(T.String())),
    secrets: T.Optional(
      T.Record(
        Name,
        T.Union([
          T.Object({ env: T.String({ minLength: 1 }) }, { additionalProperties: false }),
          T.Object({ file: T.String({ minLength: 1 }) }, { additionalProperties: false }),
        ]),
        // A key that is not a name (e.g. a path) must be rejected, not published by policyNames.
        { additionalProperties: false },
      ),
    ),
    mounts: T.Optional(
      T.Record(
        Name,
        T.Object(
          { path: T.String({ minLength: 1 }), readOnly: T.Optional(T.Boolean()) },
          { additionalProperties: false },
        ),
        { additionalProperties: false },
      ),
    ),
    network: T.Optional(T.Array(Name)),
    shell: T.Optional(T.Boolean()),
    git: T.Optional(T.Boolean()),
    capabilities: T.Optional(T.Array(Name)),
    plugins: T.Optional(
      T.Object(
        {
          allowAll: T.Optional(T.Boolean()),
          allowDigests: T.Optional(T.Array(T.String({ pattern: "^sha256:[0-9a-f]{64}$" }))),
        },
        { additionalProperties: false },
      ),
    ),
    limits: T.Optional(
      T.Object(
        {
          maxBundleBytes: T.Optional(T.Integer({ minimum: 1024 })),
          maxBundles: T.Optional(T.Integer({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type HostPolicyFile = Static<typeof HostPolicyFile>;

export const DEFAULT_MAX_BUNDLE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_BUNDLES = 10_000;

export interface HostPolicy {
  requireBundle: boolean;
  builtinProfiles: string[];
  secrets: Record<string, { env: string } | { file: string }>;
  mounts: Record<string, { path: string; readOnly: boolean }>;
  network: string[];
  shell: boolean;
  git: boolean;
  capabilities: string[];
  plugins: { allowAll: boolean; allowDigests: string[] };
  limits: { maxBundleBytes: number; maxBundles: number };
}

const PolicyCheck = TypeCompiler.Compile(HostPolicyFile);

export function normalizePolicy(file: HostPolicyFile = {}, label = "host policy"): HostPolicy {
  if (!PolicyCheck.Check(file)) {
    // schemaErrors never names a key that could be a path or a secret.
    const first = schemaErrors(PolicyCheck, file)[0];
    throw new ConfigError(`${label}: ${first?.path ?? "/"}: ${first?.message ?? "invalid"}`);
  }
  const builtinProfiles = file.builtinProfiles ?? BUILTIN_PROFILE_NAMES;
  for (const [i, name] of builtinProfiles.entries()) {
    if (!BUILTIN_PROFILE_NAMES.includes(name)) {
      throw new ConfigError(`${label}: /builtinProfiles/${i}: unknown builtin profile`);
    }
  }
  const mounts: HostPolicy["mounts"] = {};
  for (const [name, m] of Object.entries(file.mounts ?? {}))
    mounts[name] = { path: m.path, readOnly: m.readOnly ?? true };
  return {
    requireBundle: file.requireBundle ?? false,
    builtinProfiles,
    secrets: file.secrets ?? {},
    mounts,
    network: file.network ?? [],
    shell: file.shell ?? false,
    git: file.git ?? false,
    capabilities: file.capabilities ?? [],
    plugins: { allowAll: file.plugins?.allowAll ?? false, allowDigests: file.plugins?.allowDigests ?? [] },
    limits: {
      maxBundleBytes: file.limits?.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES,
      maxBundles: file.limits?.maxBundles ?? DEFAULT_MAX_BUNDLES,
    },
  };
}

/** Relative secret files and mount paths are taken from the policy file's own directory. */
export function loadHostPolicy(path: string, label = "--host-policy"): HostPolicy {
  const policy = normalizePolicy(readDocument(path, label) as HostPolicyFile, label);
  const base = dirname(resolve(path));
  for (const [name, source] of Object.entries(policy.secrets)) {
    if ("file" in source) policy.secrets[name] = { file: resolve(base, source.file) };
  }
  for (const m of Object.values(policy.mounts)) m.path = resolve(base, m.path);
  return policy;
}

/** Is the secret's value actually there? Checked, never returned. */
function secretPresent(source: { env: string } | { file: string }): boolean {
  if ("env" in source) return (process.env[source.env] ?? "") !== "";
  try {
    accessSync(source.file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

export function hostView(policy: HostPolicy): HostView {
  const allow = new Set(policy.plugins.allowDigests);
  return {
    requireBundle: policy.requireBundle,
    builtinProfiles: new Set(policy.builtinProfiles),
    secretAvailable: (name) => {
      const source = policy.secrets[name];
      return source !== undefined && secretPresent(source);
    },
    mount: (name) => {
      const m = policy.mounts[name];
      return m && { readOnly: m.readOnly };
    },
    network: new Set(policy.network),
    shell: policy.shell,
    git: policy.git,
    capabilities: new Set(policy.capabilities),
    pluginAllowed: (digest) => policy.plugins.allowAll || allow.has(digest),
  };
}

/** What `GET /v1/runtime` may show: names and switches, never paths or values. */
export function policyNames(policy: HostPolicy) {
  return {
    requireBundle: policy.requireBundle,
    builtinProfiles: policy.builtinProfiles,
    secrets: Object.keys(policy.secrets),
    mounts: Object.keys(policy.mounts),
    network: policy.network,
    shell: policy.shell,
    git: policy.git,
    capabilities: policy.capabilities,
    plugins: { allowAll: policy.plugins.allowAll, allowDigests: policy.plugins.allowDigests },
    limits: policy.limits,
  };
}
