/**
 * The background scrub: every stored row is re-verified in pages, and a row that no
 * longer matches its digest is quarantined before anyone asks for it.
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleDigest } from "../../src/bundle/digest.ts";
import type { Bundle } from "../../src/bundle/model.ts";
import { BundlesyncError } from "../../src/http/errors.ts";
import { Runtime } from "../../src/runtime/runtime.ts";

const dirs: string[] = [];
const runtimes: Runtime[] = [];

afterEach(() => {
  for (const r of runtimes.splice(0)) r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function bundle(n: number): Bundle {
  const b: Bundle = {
    schemaVersion: 1,
    metadata: {
      id: `scrub.b${n}`,
      workspaceId: "scrub",
      revision: 1,
      createdAt: "2026-11-24T10:00:00Z",
      provenance: { source: "test" },
      digest: "",
    },
    content: { workspace: { id: "scrub", name: "Scrub" }, profiles: [{ name: "p", description: `bundle ${n}` }] },
  };
  b.metadata.digest = bundleDigest(b);
  return b;
}

function open(dataDir: string): Runtime {
  const r = new Runtime({ dataDir });
  runtimes.push(r);
  return r;
}

function quarantined(dataDir: string): string[] {
  const db = new Database(join(dataDir, "runtime.sqlite"));
  try {
    return db
      .query<{ digest: string }, []>("SELECT digest FROM bundles WHERE quarantined = 1 ORDER BY digest")
      .all()
      .map((r) => r.digest);
  } finally {
    db.close();
  }
}

describe("scrub", () => {
  test("walks every row in pages and quarantines the one whose bytes were altered on disk", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "bundlesync-scrub-"));
    dirs.push(dataDir);
    const bundles = [1, 2, 3, 4, 5].map(bundle);
    const first = open(dataDir);
    for (const b of bundles) first.putBundle(b.metadata.digest, b);
    first.close();
    runtimes.pop();

    const victim = bundles[2]!.metadata.digest;
    const db = new Database(join(dataDir, "runtime.sqlite"));
    const body = new TextDecoder().decode(
      db.query<{ body: Uint8Array }, [string]>("SELECT body FROM bundles WHERE digest = ?").get(victim)!.body,
    );
    db.query("UPDATE bundles SET body = ? WHERE digest = ?").run(
      new TextEncoder().encode(body.replace("bundle 3", "bundle 9")),
      victim,
    );
    db.close();

    const runtime = open(dataDir);
    let cursor = runtime.scrub("", 2);
    let pages = 1;
    while (cursor !== "") {
      cursor = runtime.scrub(cursor, 2);
      pages++;
    }
    expect(pages).toBe(3);
    expect(quarantined(dataDir)).toEqual([victim]);

    const refs = bundles.map((b) => ({ id: b.metadata.id, digest: b.metadata.digest }));
    const status = runtime.availability({ refs }).map((r) => r.status);
    expect(status).toEqual(["available", "available", "missing", "available", "available"]);
    let served: unknown;
    try {
      served = runtime.getBundleBytes(victim);
    } catch (e) {
      served = e;
    }
    expect(served).toBeInstanceOf(BundlesyncError);
    expect((served as BundlesyncError).code).toBe("config_bundle_corrupt");
    expect(runtime.getBundle(bundles[0]!.metadata.digest).metadata.id).toBe("scrub.b1");

    // A valid PUT of the same bundle repairs the quarantined row.
    expect(runtime.putBundle(victim, bundles[2]!).created).toBe(true);
    expect(quarantined(dataDir)).toEqual([]);
    expect(runtime.getBundle(victim).content.profiles[0]!.description).toBe("bundle 3");
  });
});
