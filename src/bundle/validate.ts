/**
 * Store-time validation (contract §3), in the contract's order:
 * schema -> schema version -> digest -> forbidden content -> declaration kinds -> references.
 * Used by the runtime on every PUT and by the backend before it ever syncs.
 */
import { TypeCompiler, ValueErrorType } from "@sinclair/typebox/compiler";
import { BundlesyncError } from "../http/errors.ts";
import { canonicalBundle, promptDigest } from "./digest.ts";
import { Bundle, type Content, SCHEMA_VERSION } from "./model.ts";
import { credentialRule, DECLARATION_PREFIX, KNOWN_PREFIXES, refRule, structuredRule } from "./rules.ts";

const BundleCheck = TypeCompiler.Compile(Bundle);

export interface VerifiedBundle {
  bundle: Bundle;
  digest: string;
  /** Canonical (JCS) bytes of the whole bundle. */
  bytes: string;
}

const MAX_SCHEMA_ERRORS = 20;

/** An unknown property is named only when its key is a plain name: a key may itself be a secret or a path. */
const SAFE_KEY = /^[A-Za-z0-9_-]{1,64}$/;

function errorPath(e: { path: string; type?: number }): string {
  if (e.type !== ValueErrorType.ObjectAdditionalProperties) return e.path || "/";
  const cut = e.path.lastIndexOf("/");
  const key = e.path.slice(cut + 1);
  if (SAFE_KEY.test(key) && !credentialRule(key)) return e.path;
  return e.path.slice(0, cut) || "/";
}

export function schemaErrors(
  check: { Errors(v: unknown): Iterable<{ path: string; message: string; type?: number }> },
  value: unknown,
) {
  const errors: { path: string; message: string }[] = [];
  for (const e of check.Errors(value)) {
    errors.push({ path: errorPath(e), message: e.message });
    if (errors.length >= MAX_SCHEMA_ERRORS) break;
  }
  return errors;
}

export function checkShape(input: unknown): Bundle {
  if (!BundleCheck.Check(input)) {
    throw new BundlesyncError("invalid_request", { errors: schemaErrors(BundleCheck, input) });
  }
  return input;
}

export function checkSchemaVersion(bundle: Bundle): void {
  if (bundle.schemaVersion !== SCHEMA_VERSION) {
    throw new BundlesyncError("unsupported_schema_version", {
      pointer: "/schemaVersion",
      supported: [SCHEMA_VERSION],
    });
  }
}

/** Full store-time verification. `claimedDigest` is the digest the caller addressed (PUT path). */
export function verifyBundle(input: unknown, claimedDigest?: string): VerifiedBundle {
  const bundle = checkShape(input);
  checkSchemaVersion(bundle);
  const { digest, bytes } = canonicalBundle(bundle);
  if (bundle.metadata.digest !== digest) {
    throw new BundlesyncError("config_bundle_digest_mismatch", { pointer: "/metadata/digest", computedDigest: digest });
  }
  if (claimedDigest !== undefined && claimedDigest !== digest) {
    throw new BundlesyncError("config_bundle_digest_mismatch", { pointer: "", computedDigest: digest });
  }
  scanForbidden(bundle);
  checkDeclarationKinds(bundle.content);
  checkReferences(bundle.content, bundle.metadata.workspaceId);
  return { bundle, digest, bytes };
}

/** Validation a workspace build runs: everything but the digest, which it computes itself. */
export function verifyUnsigned(bundle: Bundle): void {
  checkShape(bundle);
  checkSchemaVersion(bundle);
  scanForbidden(bundle);
  checkDeclarationKinds(bundle.content);
  checkReferences(bundle.content, bundle.metadata.workspaceId);
}

function pointerOf(path: (string | number)[]): string {
  let out = "";
  for (const p of path) out += `/${String(p).replaceAll("~", "~0").replaceAll("/", "~1")}`;
  return out;
}

function forbidden(path: (string | number)[], rule: string): never {
  throw new BundlesyncError("forbidden_content", { pointer: pointerOf(path), rule });
}

const DESCRIBED_LISTS = new Set(["profiles", "workflows", "tools", "plugins"]);

/**
 * Free text: prompt text and descriptions get the credential rules only. Matched by exact
 * position, so a label or model option that happens to be called "description" stays structured.
 */
function isFreeText(path: (string | number)[]): boolean {
  if (path.length === 4 && path[0] === "content" && typeof path[2] === "number") {
    if (path[1] === "prompts") return path[3] === "text";
    return path[3] === "description" && DESCRIBED_LISTS.has(path[1] as string);
  }
  return path.length === 4 && path.join("/") === "content/workspace/project/description";
}

function scanValue(value: unknown, path: (string | number)[]): void {
  if (typeof value === "string") {
    const cred = credentialRule(value);
    if (cred) forbidden(path, cred);
    if (!isFreeText(path)) {
      const rule = structuredRule(value);
      if (rule) forbidden(path, rule);
    }
    return;
  }
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      scanValue(value[i], path);
      path.pop();
    }
    return;
  }
  for (const key of Object.keys(value)) {
    // A bad key is reported at its object: the pointer must not carry the key itself.
    const keyRule = credentialRule(key) ?? structuredRule(key);
    if (keyRule) forbidden(path, keyRule);
    path.push(key);
    scanValue((value as Record<string, unknown>)[key], path);
    path.pop();
  }
}

export function scanForbidden(bundle: Bundle): void {
  scanValue(bundle, []);
  const c = bundle.content;
  c.declarations?.forEach((d, i) => {
    const prefix = DECLARATION_PREFIX[d.kind];
    if (prefix === undefined) return; // unknown kinds are the next stage's business
    const rule = refRule(d.ref, prefix);
    if (rule) forbidden(["content", "declarations", i, "ref"], rule);
  });
  c.models?.forEach((m, i) => {
    if (m.credential === undefined) return;
    const rule = refRule(m.credential, "secret");
    if (rule) forbidden(["content", "models", i, "credential"], rule);
  });
  c.plugins?.forEach((p, i) => {
    p.grants?.forEach((g, j) => {
      const rule = refRule(g, KNOWN_PREFIXES);
      if (rule) forbidden(["content", "plugins", i, "grants", j], rule);
    });
  });
}

export function checkDeclarationKinds(content: Content): void {
  content.declarations?.forEach((d, i) => {
    if (!Object.hasOwn(DECLARATION_PREFIX, d.kind)) {
      throw new BundlesyncError("unsupported_declaration", {
        pointer: `/content/declarations/${i}/kind`,
        kind: d.kind,
      });
    }
  });
}

function invalid(pointer: string, reason: string): never {
  throw new BundlesyncError("invalid_bundle", { pointer, reason });
}

function nameSet(list: { name: string }[] | undefined, listName: string): Set<string> {
  const names = new Set<string>();
  list?.forEach((item, i) => {
    if (names.has(item.name)) invalid(`/content/${listName}/${i}/name`, "duplicate_name");
    names.add(item.name);
  });
  return names;
}

function checkNames(refs: string[] | undefined, known: Set<string>, pointer: string, reason: string): void {
  refs?.forEach((name, i) => {
    if (!known.has(name)) invalid(`${pointer}/${i}`, reason);
  });
}

export function checkReferences(content: Content, workspaceId: string): void {
  if (content.workspace.id !== workspaceId) invalid("/content/workspace/id", "workspace_mismatch");
  const profiles = nameSet(content.profiles, "profiles");
  const prompts = nameSet(content.prompts, "prompts");
  const workflows = nameSet(content.workflows, "workflows");
  const tools = nameSet(content.tools, "tools");
  const plugins = nameSet(content.plugins, "plugins");
  const models = nameSet(content.models, "models");
  const declarations = nameSet(content.declarations, "declarations");

  const lang = content.language;
  const allowed = lang?.allowed && lang.allowed.length > 0 ? new Set(lang.allowed) : undefined;
  if (lang && allowed && !allowed.has(lang.default)) invalid("/content/language/default", "unknown_language");

  content.prompts?.forEach((p, i) => {
    if (p.digest !== undefined && p.digest !== promptDigest(p.text)) {
      invalid(`/content/prompts/${i}/digest`, "prompt_digest_mismatch");
    }
  });

  content.profiles.forEach((p, i) => {
    const at = `/content/profiles/${i}`;
    if (p.extends !== undefined && !p.extends.startsWith("builtin:") && !profiles.has(p.extends)) {
      invalid(`${at}/extends`, "unknown_profile");
    }
    if (p.model !== undefined && !models.has(p.model)) invalid(`${at}/model`, "unknown_model");
    checkNames(p.prompts, prompts, `${at}/prompts`, "unknown_prompt");
    checkNames(p.tools, tools, `${at}/tools`, "unknown_tool");
    checkNames(p.workflows, workflows, `${at}/workflows`, "unknown_workflow");
    checkNames(p.plugins, plugins, `${at}/plugins`, "unknown_plugin");
    checkNames(p.requires, declarations, `${at}/requires`, "unknown_declaration");
    if (p.language !== undefined && allowed && !allowed.has(p.language)) invalid(`${at}/language`, "unknown_language");
  });

  content.workflows?.forEach((w, i) => {
    w.steps.forEach((s, j) => {
      if (!profiles.has(s.profile)) invalid(`/content/workflows/${i}/steps/${j}/profile`, "unknown_profile");
    });
  });

  // extends cycles: follow each chain; a chain that revisits a profile is a cycle.
  const byName = new Map(content.profiles.map((p, i) => [p.name, { p, i }]));
  for (const [i, start] of content.profiles.entries()) {
    const seen = new Set<string>([start.name]);
    let cur = start.extends;
    while (cur !== undefined && !cur.startsWith("builtin:")) {
      if (seen.has(cur)) invalid(`/content/profiles/${i}/extends`, "extends_cycle");
      seen.add(cur);
      cur = byName.get(cur)?.p.extends;
    }
  }
}
