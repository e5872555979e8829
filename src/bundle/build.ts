/**
 * Workspace directory -> bundle (contract §7 layout). Lists are sorted by name so the
 * same directory always gives the same digest, whatever order files are listed in. Every
 * failure is a `SourceError` naming the file (relative to the workspace) and the rule,
 * never a value from it.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BundlesyncError } from "../http/errors.ts";
import { canonicalBundle, promptDigest } from "./digest.ts";
import { type Bundle, type Content, SCHEMA_VERSION } from "./model.ts";
import { verifyUnsigned } from "./validate.ts";

export class SourceError extends Error {
  override name = "SourceError";
  /** Set once workspace.yaml was read, so a broken workspace can still be listed. */
  workspaceId?: string;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface BuildOptions {
  revision?: number;
  createdAt?: string;
}

export interface Built {
  bundle: Bundle;
  digest: string;
  /** Source file (relative) for each list entry, to point errors at files. */
  files: Map<string, string>;
}

type Doc = Record<string, unknown>;

function listFiles(dir: string, sub: string, exts: string[]): string[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, sub));
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith(".") && exts.some((e) => n.endsWith(e)))
    .filter((n) => statSync(join(dir, sub, n)).isFile())
    .sort()
    .map((n) => `${sub}/${n}`);
}

function readText(dir: string, rel: string): string {
  try {
    return readFileSync(join(dir, rel), "utf8");
  } catch {
    throw new SourceError("invalid_source", `${rel}: cannot read the file`);
  }
}

function readYaml(dir: string, rel: string): Doc {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(readText(dir, rel));
  } catch (e) {
    if (e instanceof SourceError) throw e;
    throw new SourceError("invalid_source", `${rel}: not valid YAML`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new SourceError("invalid_source", `${rel}: expected a mapping at the top level`);
  }
  return doc as Doc;
}

const baseName = (rel: string) => rel.slice(rel.lastIndexOf("/") + 1).replace(/\.(ya?ml|md)$/, "");
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function named(dir: string, sub: string, files: Map<string, string>, listName: string): Doc[] {
  const docs = listFiles(dir, sub, [".yaml", ".yml"]).map((rel) => {
    const doc = readYaml(dir, rel);
    const item = { ...doc, name: doc.name ?? baseName(rel) } as Doc & { name: string };
    files.set(`${listName}/${String(item.name)}`, rel);
    return item;
  });
  return docs.sort((a, b) => byName(a as { name: string }, b as { name: string }));
}

function sortedList(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  return [...value].sort((a, b) => (typeof a?.name === "string" && typeof b?.name === "string" ? byName(a, b) : 0));
}

/** Maps a bundle pointer like /content/profiles/2/model to the file it came from. */
function fileFor(bundle: Bundle, pointer: string, files: Map<string, string>): { file: string; rest: string } {
  const m = /^\/content\/(profiles|prompts|workflows|plugins)\/(\d+)(.*)$/.exec(pointer);
  if (m) {
    const list = (bundle.content as unknown as Record<string, { name?: unknown }[]>)[m[1]!];
    const item = list?.[Number(m[2])];
    const file = files.get(`${m[1]}/${String(item?.name)}`);
    if (file) return { file, rest: m[3] || "/" };
  }
  return { file: "workspace.yaml", rest: pointer.replace(/^\/content/, "") || "/" };
}

export function buildWorkspace(dir: string, opts: BuildOptions = {}): Built {
  const files = new Map<string, string>();
  try {
    if (!statSync(dir).isDirectory()) throw new Error();
  } catch {
    throw new SourceError("invalid_source", "workspace directory cannot be read");
  }
  const ws = readYaml(dir, "workspace.yaml");
  if (typeof ws.id !== "string") throw new SourceError("invalid_source", "workspace.yaml: /id: required string");
  const workspaceId = ws.id;
  try {
    return assemble(dir, ws, workspaceId, files, opts);
  } catch (e) {
    if (e instanceof SourceError) e.workspaceId = workspaceId;
    throw e;
  }
}

function assemble(dir: string, ws: Doc, workspaceId: string, files: Map<string, string>, opts: BuildOptions): Built {
  const bundleId = typeof ws.bundleId === "string" ? ws.bundleId : `${workspaceId}.default`;

  const prompts = listFiles(dir, "prompts", [".md"]).map((rel) => {
    const text = readText(dir, rel);
    const name = baseName(rel);
    files.set(`prompts/${name}`, rel);
    return { name, text, digest: promptDigest(text) };
  });

  const content = {
    workspace: {
      id: workspaceId,
      name: ws.name ?? workspaceId,
      ...(ws.project !== undefined && { project: ws.project }),
    },
    ...(ws.language !== undefined && { language: ws.language }),
    profiles: named(dir, "profiles", files, "profiles"),
    prompts: prompts.sort(byName),
    workflows: named(dir, "workflows", files, "workflows"),
    tools: sortedList(ws.tools ?? []),
    plugins: named(dir, "plugins", files, "plugins"),
    models: sortedList(ws.models ?? []),
    declarations: sortedList(ws.declarations ?? []),
  } as unknown as Content;

  const bundle: Bundle = {
    schemaVersion: SCHEMA_VERSION,
    metadata: {
      id: bundleId,
      workspaceId,
      revision: opts.revision ?? 1,
      createdAt: opts.createdAt ?? new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      provenance: { source: "workspace-dir" },
      digest: `sha256:${"0".repeat(64)}`,
    },
    content,
  };
  try {
    verifyUnsigned(bundle);
  } catch (e) {
    if (!(e instanceof BundlesyncError)) throw e;
    const details = e.details as {
      pointer?: string;
      rule?: string;
      reason?: string;
      errors?: { path: string; message: string }[];
    };
    if (e.code === "invalid_request") {
      const first = details.errors?.[0];
      const at = fileFor(bundle, first?.path ?? "/", files);
      throw new SourceError(
        "invalid_source",
        `${at.file}: ${at.rest}: ${first?.message ?? "does not match the schema"}`,
      );
    }
    const at = fileFor(bundle, details.pointer ?? "/", files);
    const rule = details.rule ?? details.reason ?? e.code;
    throw new SourceError(e.code, `${at.file}: ${at.rest}: ${e.message.replace(/\.$/, "")} (${rule})`);
  }
  const { digest } = canonicalBundle(bundle);
  bundle.metadata.digest = digest;
  return { bundle, digest, files };
}
