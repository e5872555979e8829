/**
 * RFC 8785 (JCS) canonical JSON and the bundle digest rule of contract §3.
 *
 * The serializer is a single recursive pass: object keys sorted by UTF-16 code units
 * (Array.prototype.sort's default order, which is exactly JCS's), strings and numbers
 * through JSON.stringify (ECMAScript's Number serialisation is the one JCS prescribes).
 * The `canonicalize` package stays in the tests as the oracle.
 */
import type { Bundle, Metadata } from "./model.ts";

export class CanonicalizeError extends Error {}

/**
 * True when `JSON.stringify(value)` is already the JCS form: plain objects and arrays
 * only, every object's own keys enumerate in sorted order (JSON.stringify follows
 * Object.keys order; integer-like keys that enumerate first fail this check), finite
 * numbers, no functions, symbols, bigints or toJSON. Bodies sent in canonical form (the
 * backend and the runtime always send them so) pass, and one native stringify is then
 * several times faster than the recursive serializer.
 */
function stringifyIsCanonical(value: unknown): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return false;
        for (let i = 0; i < value.length; i++) {
          const item = value[i];
          if (item !== undefined && !stringifyIsCanonical(item)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        if (i > 0 && !(keys[i - 1]! < key)) return false;
        const item = obj[key];
        if (key === "toJSON" || (item !== undefined && !stringifyIsCanonical(item))) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

export function canonicalJson(value: unknown): string {
  if (typeof value === "object" && value !== null && stringifyIsCanonical(value)) return JSON.stringify(value);
  return canonicalSlow(value);
}

function canonicalSlow(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalizeError("non-finite number");
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          const item = value[i];
          out += item === undefined || typeof item === "function" ? "null" : canonicalSlow(item);
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = "{";
      let first = true;
      for (const key of keys) {
        const item = obj[key];
        if (item === undefined || typeof item === "function") continue;
        if (!first) out += ",";
        first = false;
        out += `${JSON.stringify(key)}:${canonicalSlow(item)}`;
      }
      return `${out}}`;
    }
    default:
      throw new CanonicalizeError(`cannot canonicalize ${typeof value}`);
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

export function sha256Digest(data: string | Uint8Array): string {
  return `sha256:${sha256Hex(data)}`;
}

/** JCS of `{schemaVersion, id, workspaceId, content}` built around an already canonical content. */
export function digestInput(schemaVersion: number, id: string, workspaceId: string, canonicalContent: string): string {
  return `{"content":${canonicalContent},"id":${JSON.stringify(id)},"schemaVersion":${canonicalJson(schemaVersion)},"workspaceId":${JSON.stringify(workspaceId)}}`;
}

export interface CanonicalBundle {
  digest: string;
  /** JCS of the whole bundle (metadata.digest included): the bytes a runtime stores and serves. */
  bytes: string;
}

/** Digest and canonical bytes of a bundle, canonicalizing the (large) content only once. */
export function canonicalBundle(
  bundle: Pick<Bundle, "schemaVersion" | "content"> & { metadata: Metadata },
): CanonicalBundle {
  const content = canonicalJson(bundle.content);
  const digest = sha256Digest(
    digestInput(bundle.schemaVersion, bundle.metadata.id, bundle.metadata.workspaceId, content),
  );
  const metadata = canonicalJson({ ...bundle.metadata, digest: bundle.metadata.digest ?? digest });
  const bytes = `{"content":${content},"metadata":${metadata},"schemaVersion":${canonicalJson(bundle.schemaVersion)}}`;
  return { digest, bytes };
}

/** The digest a bundle should carry, per contract §3. */
export function bundleDigest(bundle: {
  schemaVersion: number;
  metadata: { id: string; workspaceId: string };
  content: unknown;
}): string {
  return sha256Digest(
    digestInput(bundle.schemaVersion, bundle.metadata.id, bundle.metadata.workspaceId, canonicalJson(bundle.content)),
  );
}

export function promptDigest(text: string): string {
  return sha256Digest(text);
}
