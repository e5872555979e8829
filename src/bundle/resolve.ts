/**
 * profile selector + bundle + host view -> ResolvedWorkerSpec (contract §5).
 * Pure: the host is seen through `HostView`, so secret values and mount paths never
 * enter this module, only whether they are available.
 */
import { BundlesyncError } from "../http/errors.ts";
import { BUILTIN_CONTENT } from "./builtin.ts";
import { canonicalJson, promptDigest, sha256Digest } from "./digest.ts";
import type {
  Bundle,
  Content,
  CreateWorkerRequest,
  Declaration,
  ModelDef,
  PluginDef,
  Profile,
  ResolvedWorkerSpec,
  ToolDef,
} from "./model.ts";
import { parseRef } from "./rules.ts";

export interface HostView {
  requireBundle: boolean;
  builtinProfiles: ReadonlySet<string>;
  secretAvailable(name: string): boolean;
  mount(name: string): { readOnly: boolean } | undefined;
  network: ReadonlySet<string>;
  shell: boolean;
  git: boolean;
  capabilities: ReadonlySet<string>;
  pluginAllowed(digest: string): boolean;
}

export interface Resolution {
  mode: "builtin" | "bundle";
  spec: ResolvedWorkerSpec;
}

interface Layer {
  label: string;
  profile: Profile;
  content: Content;
}

/** Ordered union by name: position of first appearance, definition of the nearest layer. */
class Merged<T> {
  readonly items = new Map<string, T>();
  add(name: string, item: T) {
    this.items.set(name, item);
  }
  values(): T[] {
    return [...this.items.values()];
  }
}

function byName<T extends { name: string }>(list: T[] | undefined, name: string): T | undefined {
  return list?.find((x) => x.name === name);
}

function builtinProfile(name: string, host: HostView): Profile {
  const p = byName(BUILTIN_CONTENT.profiles, name);
  if (!p || !host.builtinProfiles.has(name)) {
    throw new BundlesyncError("invalid_profile", { reason: "unknown_builtin", profile: name });
  }
  return p;
}

function chainOf(start: Profile, content: Content, host: HostView): Layer[] {
  const label = content === BUILTIN_CONTENT ? `builtin:${start.name}` : start.name;
  const layers: Layer[] = [{ label, profile: start, content }];
  let cur = start;
  for (let depth = 0; cur.extends !== undefined; depth++) {
    if (depth > 64) throw new BundlesyncError("invalid_profile", { reason: "extends_too_deep" });
    const ext = cur.extends;
    if (ext.startsWith("builtin:")) {
      const name = ext.slice("builtin:".length);
      layers.unshift({ label: ext, profile: builtinProfile(name, host), content: BUILTIN_CONTENT });
      break;
    }
    const parent = byName(content.profiles, ext);
    if (!parent) throw new BundlesyncError("invalid_profile", { reason: "unknown_extends" });
    if (layers.some((l) => l.content === content && l.profile.name === parent.name)) {
      throw new BundlesyncError("invalid_profile", { reason: "extends_cycle" });
    }
    layers.unshift({ label: parent.name, profile: parent, content });
    cur = parent;
  }
  return layers;
}

function selectProfile(req: CreateWorkerRequest, bundle: Bundle | undefined, host: HostView) {
  const sel = req.profile;
  if (sel.kind !== "named" && sel.kind !== "builtin") {
    throw new BundlesyncError("invalid_profile", { reason: "unknown_selector_kind" });
  }
  if (sel.kind === "builtin") {
    if (bundle) throw new BundlesyncError("invalid_profile", { reason: "builtin_with_bundle" });
    if (host.requireBundle) throw new BundlesyncError("bundle_required", { reason: "host_requires_bundle" });
    return { mode: "builtin" as const, layers: chainOf(builtinProfile(sel.name, host), BUILTIN_CONTENT, host) };
  }
  if (!bundle) throw new BundlesyncError("bundle_required", { reason: "named_profile_without_bundle" });
  const profile = byName(bundle.content.profiles, sel.name);
  if (!profile) throw new BundlesyncError("invalid_profile", { reason: "profile_not_in_bundle", profile: sel.name });
  return { mode: "bundle" as const, layers: chainOf(profile, bundle.content, host) };
}

export function resolveWorker(req: CreateWorkerRequest, bundle: Bundle | undefined, host: HostView): Resolution {
  const { mode, layers } = selectProfile(req, bundle, host);

  const prompts = new Merged<{ name: string; digest: string }>();
  const tools = new Merged<{ name: string; policy: string }>();
  const workflows = new Merged<string>();
  const plugins = new Merged<PluginDef>();
  const requires = new Merged<Declaration>();
  let model: ModelDef | undefined;
  let language: string | undefined;

  for (const { profile, content } of layers) {
    for (const name of profile.prompts ?? []) {
      const p = byName(content.prompts, name);
      if (p) prompts.add(name, { name, digest: p.digest ?? promptDigest(p.text) });
    }
    for (const name of profile.tools ?? []) {
      const t: ToolDef | undefined = byName(content.tools, name);
      if (t) tools.add(name, { name, policy: t.policy });
    }
    for (const name of profile.workflows ?? []) workflows.add(name, name);
    for (const name of profile.plugins ?? []) {
      const p = byName(content.plugins, name);
      if (p) plugins.add(name, p);
    }
    for (const name of profile.requires ?? []) {
      const d = byName(content.declarations, name);
      if (d) requires.add(`${d.kind}/${d.ref}`, d);
    }
    if (profile.model !== undefined) model = byName(content.models, profile.model);
    if (profile.language !== undefined) language = profile.language;
  }
  const leafContent = layers[layers.length - 1]!.content;
  language ??= leafContent.language?.default;

  // Host policy, in a fixed order so the same request always fails the same way.
  const mounts: { name: string; readOnly: boolean }[] = [];
  const network = new Merged<string>();
  const capabilities = new Merged<string>();
  let shell = false;
  let git = false;

  const grant = (ref: string, pluginGrants?: Map<string, PluginDef>) => {
    const parsed = parseRef(ref);
    if (!parsed) throw new BundlesyncError("invalid_profile", { reason: "malformed_ref" });
    const { prefix, name } = parsed;
    switch (prefix) {
      case "secret":
        if (!host.secretAvailable(name)) throw new BundlesyncError("secret_unavailable", { ref });
        return;
      case "mount": {
        const m = host.mount(name);
        if (!m) throw new BundlesyncError("grant_denied", { ref });
        if (!mounts.some((x) => x.name === name)) mounts.push({ name, readOnly: m.readOnly });
        return;
      }
      case "network":
        if (!host.network.has(name)) throw new BundlesyncError("grant_denied", { ref });
        network.add(name, name);
        return;
      case "shell":
        if (!host.shell) throw new BundlesyncError("grant_denied", { ref });
        shell = true;
        return;
      case "git":
        if (!host.git) throw new BundlesyncError("grant_denied", { ref });
        git = true;
        return;
      case "capability":
        if (!host.capabilities.has(name)) throw new BundlesyncError("capability_denied", { ref });
        capabilities.add(name, name);
        return;
      case "plugin": {
        const p = pluginGrants?.get(name);
        if (!p || !host.pluginAllowed(p.digest)) throw new BundlesyncError("plugin_denied", { ref });
        return;
      }
      default:
        throw new BundlesyncError("invalid_profile", { reason: "unknown_ref_prefix" });
    }
  };

  const bundlePlugins = new Map((leafContent.plugins ?? []).map((p) => [p.name, p]));
  for (const d of requires.values()) grant(d.ref, bundlePlugins);
  if (model?.credential !== undefined) grant(model.credential);
  for (const p of plugins.values()) {
    if (!host.pluginAllowed(p.digest)) throw new BundlesyncError("plugin_denied", { plugin: p.name });
    for (const g of p.grants ?? []) grant(g, bundlePlugins);
  }
  for (const cap of req.requiredCapabilities ?? []) {
    if (!host.capabilities.has(cap)) throw new BundlesyncError("capability_denied", { capability: cap });
    capabilities.add(cap, cap);
  }

  const last = layers[layers.length - 1]!;
  const spec: Omit<ResolvedWorkerSpec, "specDigest"> = {
    profile: { name: last.profile.name, chain: layers.map((l) => l.label) },
    ...(model && {
      model: {
        name: model.name,
        provider: model.provider,
        model: model.model,
        ...(model.credential !== undefined && { credential: { ref: model.credential, available: true } }),
      },
    }),
    prompts: prompts.values(),
    tools: tools.values(),
    workflows: workflows.values(),
    plugins: plugins.values().map((p) => ({ name: p.name, version: p.version, digest: p.digest })),
    mounts,
    network: network.values(),
    shell,
    git,
    capabilities: capabilities.values(),
    ...(language !== undefined && { language }),
    ...(req.intent !== undefined && { intent: req.intent }),
  };
  return { mode, spec: { ...spec, specDigest: sha256Digest(canonicalJson(spec)) } };
}
