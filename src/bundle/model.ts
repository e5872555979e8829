/**
 * TypeBox model of the config bundle (contract §3), of Worker requests and Worker views
 * (§5). These schemas are the single source for validation, static types and OpenAPI.
 */
import { type Static, Type as T } from "@sinclair/typebox";

export const SCHEMA_VERSION = 1;
export const ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$";
export const DIGEST_PATTERN = "^sha256:[0-9a-f]{64}$";
export const ID_RE = new RegExp(ID_PATTERN);
export const DIGEST_RE = new RegExp(DIGEST_PATTERN);

/** Structured strings are bounded so a hostile bundle cannot make one string huge. */
const Str = (max = 256) => T.String({ minLength: 1, maxLength: max });
const Text = (max = 16384) => T.String({ maxLength: max });
const Names = () => T.Array(Str(), { maxItems: 256 });

export const BundleId = T.String({ pattern: ID_PATTERN, description: "bundle or workspace id" });
export const Digest = T.String({ pattern: DIGEST_PATTERN, description: "sha256:<64 lowercase hex>" });

export const Provenance = T.Object({ source: Str(64), detail: T.Optional(Str(256)) }, { additionalProperties: false });

export const Metadata = T.Object(
  {
    id: BundleId,
    workspaceId: BundleId,
    revision: T.Integer({ minimum: 1 }),
    createdAt: T.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$" }),
    provenance: Provenance,
    digest: Digest,
  },
  { additionalProperties: false },
);

export const Workspace = T.Object(
  {
    id: BundleId,
    name: Str(256),
    project: T.Optional(
      T.Object(
        {
          description: T.Optional(Text(4096)),
          labels: T.Optional(T.Record(T.String({ maxLength: 128 }), T.String({ maxLength: 256 }))),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const Language = T.Object(
  { default: Str(32), allowed: T.Optional(T.Array(Str(32), { maxItems: 64 })) },
  { additionalProperties: false },
);

export const Profile = T.Object(
  {
    name: Str(128),
    description: T.Optional(Text(4096)),
    extends: T.Optional(Str(128)),
    model: T.Optional(Str(128)),
    prompts: T.Optional(Names()),
    tools: T.Optional(Names()),
    workflows: T.Optional(Names()),
    plugins: T.Optional(Names()),
    requires: T.Optional(Names()),
    language: T.Optional(Str(32)),
  },
  { additionalProperties: false },
);

export const Prompt = T.Object(
  { name: Str(128), text: T.String({ maxLength: 1 << 20 }), digest: T.Optional(Digest) },
  { additionalProperties: false },
);

export const Workflow = T.Object(
  {
    name: Str(128),
    description: T.Optional(Text(4096)),
    steps: T.Array(T.Object({ name: Str(128), profile: Str(128) }, { additionalProperties: false }), {
      maxItems: 256,
    }),
  },
  { additionalProperties: false },
);

export const ToolPolicy = T.Union([T.Literal("allow"), T.Literal("ask"), T.Literal("deny")]);

export const Tool = T.Object(
  { name: Str(128), kind: Str(64), policy: ToolPolicy, description: T.Optional(Text(4096)) },
  { additionalProperties: false },
);

export const Plugin = T.Object(
  {
    name: Str(128),
    version: Str(64),
    package: Str(512),
    digest: Digest,
    provides: T.Optional(Names()),
    grants: T.Optional(Names()),
    description: T.Optional(Text(4096)),
  },
  { additionalProperties: false },
);

export const Model = T.Object(
  {
    name: Str(128),
    provider: Str(128),
    model: Str(256),
    credential: T.Optional(Str(256)),
    options: T.Optional(T.Record(T.String({ maxLength: 128 }), T.Unknown())),
  },
  { additionalProperties: false },
);

/** `kind` is any string: an unknown kind is `unsupported_declaration`, not a schema error. */
export const Declaration = T.Object({ kind: Str(64), name: Str(128), ref: Str(256) }, { additionalProperties: false });

const list = <S extends ReturnType<typeof T.Object>>(item: S) => T.Optional(T.Array(item, { maxItems: 4096 }));

export const Content = T.Object(
  {
    workspace: Workspace,
    language: T.Optional(Language),
    profiles: T.Array(Profile, { maxItems: 4096 }),
    prompts: list(Prompt),
    workflows: list(Workflow),
    tools: list(Tool),
    plugins: list(Plugin),
    models: list(Model),
    declarations: list(Declaration),
  },
  { additionalProperties: false },
);

export const Bundle = T.Object(
  { schemaVersion: T.Integer({ minimum: 1 }), metadata: Metadata, content: Content },
  { additionalProperties: false, $id: "ConfigBundle" },
);

export type Bundle = Static<typeof Bundle>;
export type Content = Static<typeof Content>;
export type Metadata = Static<typeof Metadata>;
export type Profile = Static<typeof Profile>;
export type Prompt = Static<typeof Prompt>;
export type Declaration = Static<typeof Declaration>;
export type PluginDef = Static<typeof Plugin>;
export type ModelDef = Static<typeof Model>;
export type ToolDef = Static<typeof Tool>;

export const BundleSummary = T.Object({
  id: T.String(),
  digest: T.String(),
  revision: T.Integer(),
  workspaceId: T.String(),
  createdAt: T.String(),
  provenance: T.Object({ source: T.String(), detail: T.Optional(T.String()) }),
  profileCount: T.Integer(),
  declarationCount: T.Integer(),
  sizeBytes: T.Integer(),
  storedAt: T.String(),
});
export type BundleSummary = Static<typeof BundleSummary>;

export const BundleRef = T.Object({ id: BundleId, digest: Digest }, { additionalProperties: false });
export type BundleRef = Static<typeof BundleRef>;

export const AvailabilityRequest = T.Object(
  {
    refs: T.Array(T.Object({ id: T.String({ maxLength: 128 }), digest: T.String({ maxLength: 71 }) }), {
      maxItems: 1000,
    }),
  },
  { additionalProperties: false },
);
export type AvailabilityRequest = Static<typeof AvailabilityRequest>;

export const AvailabilityResult = T.Object({
  id: T.String(),
  digest: T.String(),
  status: T.Union([T.Literal("available"), T.Literal("missing"), T.Literal("digest_mismatch")]),
  availableDigests: T.Optional(T.Array(T.String())),
});
export type AvailabilityResult = Static<typeof AvailabilityResult>;

export const ProfileSelector = T.Object(
  { kind: T.String({ description: "named | builtin" }), name: T.String({ maxLength: 128 }) },
  { additionalProperties: false },
);
export type ProfileSelector = Static<typeof ProfileSelector>;

export const Intent = T.Object(
  { goal: T.Optional(T.String({ maxLength: 16384 })), initialInput: T.Optional(T.String({ maxLength: 1 << 20 })) },
  { additionalProperties: false },
);

export const CreateWorkerRequest = T.Object(
  {
    workerId: T.Optional(BundleId),
    profile: ProfileSelector,
    configBundle: T.Optional(BundleRef),
    intent: T.Optional(Intent),
    requiredCapabilities: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 128 }), { maxItems: 256 })),
    displayName: T.Optional(T.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type CreateWorkerRequest = Static<typeof CreateWorkerRequest>;

export const ResolvedWorkerSpec = T.Object({
  profile: T.Object({ name: T.String(), chain: T.Array(T.String()) }),
  model: T.Optional(
    T.Object({
      name: T.String(),
      provider: T.String(),
      model: T.String(),
      credential: T.Optional(T.Object({ ref: T.String(), available: T.Boolean() })),
    }),
  ),
  prompts: T.Array(T.Object({ name: T.String(), digest: T.String() })),
  tools: T.Array(T.Object({ name: T.String(), policy: T.String() })),
  workflows: T.Array(T.String()),
  plugins: T.Array(T.Object({ name: T.String(), version: T.String(), digest: T.String() })),
  mounts: T.Array(T.Object({ name: T.String(), readOnly: T.Boolean() })),
  network: T.Array(T.String()),
  shell: T.Boolean(),
  git: T.Boolean(),
  capabilities: T.Array(T.String()),
  language: T.Optional(T.String()),
  intent: T.Optional(Intent),
  specDigest: T.String(),
});
export type ResolvedWorkerSpec = Static<typeof ResolvedWorkerSpec>;

export const WorkerStatus = T.Union([
  T.Literal("ready"),
  T.Literal("running"),
  T.Literal("stopped"),
  T.Literal("failed"),
]);

export const Worker = T.Object({
  id: T.String(),
  status: WorkerStatus,
  mode: T.Union([T.Literal("builtin"), T.Literal("bundle")]),
  profile: ProfileSelector,
  configBundle: T.Optional(T.Object({ id: T.String(), digest: T.String() })),
  displayName: T.Optional(T.String()),
  createdAt: T.String(),
  spec: ResolvedWorkerSpec,
});
export type Worker = Static<typeof Worker>;
