/**
 * Benchmark 3: in-process validation + digest vs JSON.parse + SHA-256 of the same bytes,
 * each stage timed on its own, and the canonical serializers that exist, compared for
 * speed and checked for exact RFC 8785 output against the `canonicalize` oracle.
 */
import { canonify } from "@truestamp/canonify";
import canonicalize from "canonicalize";
import fastStable from "fast-json-stable-stringify";
import { canonicalize as jsonCanonicalize } from "json-canonicalize";
import { configure } from "safe-stable-stringify";
import { canonicalJson, digestInput, sha256Digest, sha256Hex } from "../src/bundle/digest.ts";
import {
  checkDeclarationKinds,
  checkReferences,
  checkSchemaVersion,
  checkShape,
  scanForbidden,
  verifyBundle,
} from "../src/bundle/validate.ts";
import { sizedBundle } from "./bundles.ts";
import { summarize } from "./lib.ts";

const safeStable = configure({ deterministic: true, bigint: false, circularValue: Error });

/** µs per call: repeats `fn` for about `budgetMs` (at least 3 calls), median of the calls. */
export function timeIt(fn: () => unknown, budgetMs: number): number {
  for (let i = 0; i < 2; i++) fn(); // warm the JIT
  const times: number[] = [];
  const end = performance.now() + budgetMs;
  while (times.length < 3 || (performance.now() < end && times.length < 100_000)) {
    const s = performance.now();
    fn();
    times.push((performance.now() - s) * 1000);
  }
  return summarize(times).median;
}

export const SIZES: [string, number][] = [
  ["1 KiB", 1024],
  ["64 KiB", 64 * 1024],
  ["1 MiB", 1024 * 1024],
  ["8 MiB", 8 * 1024 * 1024 - 64 * 1024],
];

export const SERIALIZERS: [string, (v: unknown) => string | undefined][] = [
  ["ours (src/bundle/digest.ts)", canonicalJson],
  ["canonicalize 4.0.0", (v) => canonicalize(v)],
  ["json-canonicalize 3.0.1", (v) => jsonCanonicalize(v)],
  ["@truestamp/canonify 2.1.0", (v) => canonify(v)],
  ["fast-json-stable-stringify 2.1.0", (v) => fastStable(v)],
  ["safe-stable-stringify 3.0.0", (v) => safeStable(v) as string],
  ["sorted keys + JSON.stringify", sortedStringify],
];

/** The common idiom: a replacer that re-creates every object with sorted keys. */
function sortedStringify(v: unknown): string {
  return JSON.stringify(v, (_k, val) => {
    if (val === null || typeof val !== "object" || Array.isArray(val)) return val;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(val).sort()) out[k] = (val as Record<string, unknown>)[k];
    return out;
  });
}

/** RFC 8785 edge cases (§3.2.2 numbers, §3.2.3 key order, string escaping), as parsed JSON text. */
const EDGE_TEXT = [
  '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001,-0,1e21,1e-7,5e-324,1.7976931348623157e308,9007199254740993,-1.5e-10,100,0.1]}',
  '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis","":"empty"}',
  '{"literals":[null,true,false],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/\\u2028\\u007f\\u001f\\b\\t\\f"}',
  '{"nested":{"b":[{"z":1,"a":{"y":[],"x":{}}}],"a":[[[]]]},"A":"upper","a":"lower","_":"under"}',
];

export function exactness(doc: unknown): Record<string, string> {
  const cases = [...EDGE_TEXT.map((t) => JSON.parse(t)), doc];
  const out: Record<string, string> = {};
  for (const [name, fn] of SERIALIZERS) {
    let failed: string | undefined;
    cases.forEach((c, i) => {
      if (failed) return;
      try {
        if (fn(c) !== canonicalize(c)) failed = i < EDGE_TEXT.length ? `edge case ${i + 1}` : "bench document";
      } catch {
        failed = i < EDGE_TEXT.length ? `edge case ${i + 1} (threw)` : "bench document (threw)";
      }
    });
    out[name] = failed ? `no (${failed})` : "yes";
  }
  return out;
}

export interface InprocRound {
  size: string;
  bytes: number;
  baselineUs: number;
  fullUs: number;
  stages: Record<string, number>;
}

export function inprocRound(budgetMs: number): InprocRound[] {
  const out: InprocRound[] = [];
  for (const [label, size] of SIZES) {
    const bundle = sizedBundle(size, label);
    const text = canonicalJson(bundle);
    const bytes = Buffer.byteLength(text);
    const parsed = JSON.parse(text);
    const budget = size > 1 << 20 ? budgetMs * 2 : budgetMs;
    // Alternate baseline and full (A, B, A, B) so drift cancels in the ratio.
    const baselineA = timeIt(() => {
      JSON.parse(text);
      return sha256Hex(text);
    }, budget / 2);
    const fullA = timeIt(() => verifyBundle(JSON.parse(text), bundle.metadata.digest), budget / 2);
    const baselineB = timeIt(() => {
      JSON.parse(text);
      return sha256Hex(text);
    }, budget / 2);
    const fullB = timeIt(() => verifyBundle(JSON.parse(text), bundle.metadata.digest), budget / 2);
    const content = canonicalJson(parsed.content);
    const input = digestInput(1, parsed.metadata.id, parsed.metadata.workspaceId, content);
    const stages = {
      parse: timeIt(() => JSON.parse(text), budget / 4),
      schema: timeIt(() => checkSchemaVersion(checkShape(parsed)), budget / 4),
      forbidden: timeIt(() => scanForbidden(parsed), budget / 4),
      canonical: timeIt(() => canonicalJson(parsed.content), budget / 4),
      hash: timeIt(() => sha256Digest(input), budget / 4),
      references: timeIt(() => {
        checkDeclarationKinds(parsed.content);
        checkReferences(parsed.content, parsed.metadata.workspaceId);
      }, budget / 4),
    };
    out.push({
      size: label,
      bytes,
      baselineUs: (baselineA + baselineB) / 2,
      fullUs: (fullA + fullB) / 2,
      stages,
    });
  }
  return out;
}

export interface SerializerRow {
  name: string;
  exact: string;
  usBySize: Record<string, number>;
}

export function serializerRound(budgetMs: number): SerializerRow[] {
  const docs = SIZES.map(([label, size]) => [label, JSON.parse(canonicalJson(sizedBundle(size, label)))] as const);
  const exact = exactness(docs[1]![1]);
  return SERIALIZERS.map(([name, fn]) => {
    const usBySize: Record<string, number> = {};
    for (const [label, doc] of docs)
      usBySize[label] = timeIt(() => fn(doc), label === "8 MiB" ? budgetMs * 2 : budgetMs);
    return { name, exact: exact[name]!, usBySize };
  });
}
