/**
 * The raw baseline: the ceiling for our stack. A bare `Bun.serve` + `bun:sqlite` blob
 * store keyed by digest (WAL, prepared statements, an ordinary rowid table), with no
 * validation, no auth and no framework. Same URLs as the runtime API so one client
 * drives both.
 *
 *   bun bench/raw-server.ts --data DIR [--port 0]
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { data: { type: "string" }, port: { type: "string", default: "0" } } });
const dataDir = values.data ?? "raw-data";
mkdirSync(dataDir, { recursive: true });

const db = new Database(join(dataDir, "raw.sqlite"), { create: true, strict: true });
db.run("PRAGMA journal_mode = WAL");
db.run("PRAGMA synchronous = NORMAL");
db.run("CREATE TABLE IF NOT EXISTS blobs (digest TEXT NOT NULL UNIQUE, body BLOB NOT NULL)");
const getBody = db.prepare<{ body: Uint8Array }, [string]>("SELECT body FROM blobs WHERE digest = ?");
const exists = db.prepare<{ one: number }, [string]>("SELECT 1 AS one FROM blobs WHERE digest = ?");
const insert = db.prepare("INSERT OR IGNORE INTO blobs (digest, body) VALUES (?, ?)");
const present = db.prepare<{ digest: string }, [string]>(
  "SELECT digest FROM blobs WHERE digest IN (SELECT value FROM json_each(?))",
);

const PREFIX = "/v1/config-bundles/";
const JSON_TYPE = { "content-type": "application/json" };

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  maxRequestBodySize: 16 * 1024 * 1024,
  async fetch(req) {
    const url = req.url;
    const path = url.slice(url.indexOf("/", 8));
    if (path === "/v1/config-bundles/availability" && req.method === "POST") {
      const { refs } = (await req.json()) as { refs: { id: string; digest: string }[] };
      const have = new Set(present.all(JSON.stringify(refs.map((r) => r.digest))).map((r) => r.digest));
      const results = refs.map((r) => ({
        id: r.id,
        digest: r.digest,
        status: have.has(r.digest) ? "available" : "missing",
      }));
      return Response.json({ results });
    }
    if (!path.startsWith(PREFIX)) return new Response(null, { status: 404 });
    const digest = path.slice(PREFIX.length);
    switch (req.method) {
      case "GET": {
        const etag = `"${digest}"`;
        const row = getBody.get(digest);
        if (!row) return new Response(null, { status: 404 });
        if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers: { etag } });
        return new Response(row.body as Uint8Array<ArrayBuffer>, { headers: { ...JSON_TYPE, etag } });
      }
      case "HEAD":
        return new Response(null, { status: exists.get(digest) ? 200 : 404 });
      case "PUT": {
        const body = new Uint8Array(await req.arrayBuffer());
        const created = insert.run(digest, body).changes > 0;
        return new Response(`{"digest":"${digest}"}`, { status: created ? 201 : 200, headers: JSON_TYPE });
      }
      default:
        return new Response(null, { status: 405 });
    }
  },
});

process.stdout.write(
  `${JSON.stringify({ event: "listening", mode: "raw", url: `http://127.0.0.1:${server.port}` })}\n`,
);
const stop = () => {
  server.stop(true);
  db.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
