/**
 * The running runtime scrubs its store in the background: a row altered on disk while the
 * process was down is quarantined without anyone reading it, so availability reports it
 * missing (and a backend would re-sync it) and it is never served.
 */
import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanup, client, makeBundle, spawn, tempDir, waitFor } from "./harness.ts";

afterAll(cleanup);

test("a row altered on disk is quarantined by the background scrub before any read", async () => {
  const data = tempDir("bundlesync-scrub-");
  const args = ["--listen", "127.0.0.1:0", "--data", data];
  const good = makeBundle({ id: "e2e.good" });
  const victim = makeBundle({ id: "e2e.victim" });
  let rt = await spawn("runtime", args);
  for (const b of [good, victim]) {
    expect((await client(rt.url).request("PUT", `/v1/config-bundles/${b.metadata.digest}`, b)).status).toBe(201);
  }
  expect(await rt.stop()).toBe(0);

  const db = new Database(join(data, "runtime.sqlite"));
  const row = db
    .query<{ body: Uint8Array }, [string]>("SELECT body FROM bundles WHERE digest = ?")
    .get(victim.metadata.digest)!;
  const altered = new TextDecoder().decode(row.body).replace("Be precise.", "Be sloppy.");
  db.query("UPDATE bundles SET body = ? WHERE digest = ?").run(
    new TextEncoder().encode(altered),
    victim.metadata.digest,
  );
  db.close();

  rt = await spawn("runtime", args);
  const api = client(rt.url);
  const refs = [good, victim].map((b) => ({ id: b.metadata.id, digest: b.metadata.digest }));
  const statuses = await waitFor(
    async () => {
      const r = await api.request("POST", "/v1/config-bundles/availability", { refs });
      const s = (r.json.results as { status: string }[]).map((x) => x.status);
      return s[1] === "missing" ? s : undefined;
    },
    "the scrub to quarantine the altered row",
    20_000,
    100,
  );
  expect(statuses).toEqual(["available", "missing"]);
  const flagged = new Database(join(data, "runtime.sqlite"), { readonly: true });
  expect(
    flagged
      .query<{ q: number }, [string]>("SELECT quarantined AS q FROM bundles WHERE digest = ?")
      .get(victim.metadata.digest)?.q,
  ).toBe(1);
  flagged.close();
  const served = await api.request("GET", `/v1/config-bundles/${victim.metadata.digest}`);
  expect(served.status).toBe(500);
  expect(served.json.error.code).toBe("config_bundle_corrupt");
  expect(served.text).not.toContain("Be sloppy.");
  expect((await api.request("GET", `/v1/config-bundles/${good.metadata.digest}`)).status).toBe(200);
}, 60_000);
