/**
 * Benchmarks over loopback HTTP: 1 (GET/HEAD/304), 2 (PUT with full validation),
 * 4 (availability with 1000 refs) and 5 (POST /v1/workers in bundle mode). Targets are
 * alternated inside each round (A, B, C, A, B, C) so machine drift cancels in the ratios.
 */
import { smallBundle, uniqueBodies } from "./bundles.ts";
import { hasCommand, type LoadResult, runLoad, runWrk, sequential } from "./lib.ts";
import {
  type Blob,
  BUNDLESYNC,
  RAW,
  REGISTRY,
  registryAvailable,
  startBundlesync,
  startRaw,
  startRegistry,
  type Target,
} from "./servers.ts";

export interface Sample {
  target: string;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerReq: number;
  ok: number;
  errors: number;
}

export interface Variant {
  name: string;
  samples: Sample[];
  /** Which client measured it. */
  client: string;
}

export interface NetConfig {
  rounds: number;
  durationS: number;
  others: number;
  log: (msg: string) => void;
  notes: string[];
}

const sample = (target: string, round: number, r: LoadResult): Sample => ({
  target,
  round,
  rps: r.rps,
  p50: r.p50,
  p99: r.p99,
  cpuUsPerReq: r.cpuUsPerReq,
  ok: r.ok,
  errors: r.errors,
});

async function populate(t: Target, blobs: Blob[], concurrency = 8): Promise<number> {
  let next = 0;
  let ok = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < blobs.length) {
        const b = blobs[next++]!;
        if (await t.put(b)) ok++;
      }
    }),
  );
  return ok;
}

function othersFor(n: number): Blob[] {
  return Array.from({ length: n }, (_, i) => {
    const s = smallBundle(i, "others");
    return { digest: s.digest, body: s.body, blobHex: new Bun.CryptoHasher("sha256").update(s.body).digest("hex") };
  });
}

async function startTargets(cfg: NetConfig): Promise<Target[]> {
  const targets: Target[] = [await startBundlesync(), await startRaw()];
  if (registryAvailable()) {
    try {
      targets.push(await startRegistry());
    } catch (e) {
      cfg.notes.push(`docker-registry could not start (${(e as Error).message}); its comparison is skipped.`);
    }
  }
  return targets;
}

/** Benchmarks 1, 4 and 5 share one set of populated servers. */
export async function readBenchmarks(
  cfg: NetConfig,
): Promise<{ read: Variant[]; availability: Variant[]; workers: Variant[] }> {
  const wrk = hasCommand("wrk");
  if (!wrk) cfg.notes.push("wrk is not installed: GET and 304 were measured with the Bun client instead.");
  const targets = await startTargets(cfg);
  try {
    const others = othersFor(cfg.others);
    const main = uniqueBodies(64 * 1024, "bench").make(0);
    for (const t of targets) {
      const n = await populate(t, others);
      if (!(await t.put(main))) throw new Error(`${t.name}: storing the 64 KiB bundle failed`);
      cfg.log(`  ${t.name}: stored ${n} other bundles + the 64 KiB bundle`);
    }
    // First read of a row: bundlesync re-verifies it fully, once per process. Warm it.
    const etags = new Map<string, string>();
    for (const t of targets) {
      const res = await fetch(t.blobUrl(main), { headers: t.headers });
      const text = await res.text();
      if (res.status !== 200 || text !== main.body) throw new Error(`${t.name}: GET did not return the stored bytes`);
      etags.set(t.name, res.headers.get("etag") ?? "");
    }

    const read: Variant[] = [];
    const variant = (name: string, client: string) => {
      const v = { name, client, samples: [] as Sample[] };
      read.push(v);
      return v;
    };
    const kinds: { name: string; conns: number; kind: "get" | "head" | "304" }[] = [
      { name: "GET 64 KiB, 1 connection", conns: 1, kind: "get" },
      { name: "GET 64 KiB, 64 connections", conns: 64, kind: "get" },
      { name: "HEAD, 1 connection", conns: 1, kind: "head" },
      { name: "HEAD, 64 connections", conns: 64, kind: "head" },
      { name: "GET If-None-Match → 304, 1 connection", conns: 1, kind: "304" },
      { name: "GET If-None-Match → 304, 64 connections", conns: 64, kind: "304" },
    ];
    const variants = kinds.map((k) => variant(k.name, k.kind === "head" || !wrk ? "bun fetch" : "wrk 4.1"));
    for (let round = 0; round < cfg.rounds; round++) {
      for (const [ki, k] of kinds.entries()) {
        for (const t of targets) {
          const url = t.blobUrl(main);
          const headers = k.kind === "304" ? { ...t.headers, "if-none-match": etags.get(t.name)! } : t.headers;
          const expect = k.kind === "304" ? 304 : 200;
          let r: LoadResult;
          if (k.kind !== "head" && wrk) {
            r = await runWrk({ url, connections: k.conns, durationS: cfg.durationS, headers, serverPid: t.pid });
          } else {
            const method = k.kind === "head" ? "HEAD" : "GET";
            r = await runLoad({
              durationMs: cfg.durationS * 1000,
              concurrency: k.conns,
              serverPid: t.pid,
              op: async () => {
                const res = await fetch(url, { method, headers });
                await res.arrayBuffer();
                return res.status === expect;
              },
            });
          }
          variants[ki]!.samples.push(sample(t.name, round, r));
        }
      }
      cfg.log(`  read round ${round + 1}/${cfg.rounds} done`);
    }

    // 4. availability with 1000 refs: 900 stored, 100 missing.
    const availability: Variant[] = [{ name: "POST availability, 1000 refs", client: "bun fetch", samples: [] }];
    const refs = Array.from({ length: 1000 }, (_, i) => {
      const o = others[i % Math.max(1, others.length)];
      if (i >= 900 || !o) return { id: `missing.b${i}`, digest: `sha256:${i.toString(16).padStart(64, "0")}` };
      return { id: `others.b${i % others.length}`, digest: o.digest };
    });
    const refBody = JSON.stringify({ refs });
    const availTargets = targets.filter((t) => t.name !== REGISTRY);
    for (let round = 0; round < cfg.rounds; round++) {
      for (const t of availTargets) {
        const r = await runLoad({
          durationMs: cfg.durationS * 1000,
          concurrency: 1,
          serverPid: t.pid,
          op: async () => {
            const res = await fetch(`${t.url}/v1/config-bundles/availability`, {
              method: "POST",
              body: refBody,
              headers: { ...t.headers, "content-type": "application/json" },
            });
            const json = (await res.json()) as { results: unknown[] };
            return res.status === 200 && json.results.length === 1000;
          },
        });
        availability[0]!.samples.push(sample(t.name, round, r));
      }
    }

    // 5. POST /v1/workers, bundle mode (bundlesync only: no comparison has Workers).
    const bs = targets.find((t) => t.name === BUNDLESYNC)!;
    const workerBody = JSON.stringify({
      profile: { kind: "named", name: "profile-1" },
      configBundle: { id: "bench.default", digest: main.digest },
      intent: { goal: "bench" },
    });
    const workers: Variant[] = [];
    for (const conns of [1, 32]) {
      const v: Variant = { name: `POST /v1/workers, concurrency ${conns}`, client: "bun fetch", samples: [] };
      for (let round = 0; round < cfg.rounds; round++) {
        const r = await runLoad({
          durationMs: cfg.durationS * 1000,
          concurrency: conns,
          serverPid: bs.pid,
          op: async () => {
            const res = await fetch(`${bs.url}/v1/workers`, {
              method: "POST",
              body: workerBody,
              headers: { ...bs.headers, "content-type": "application/json" },
            });
            await res.arrayBuffer();
            return res.status === 201;
          },
        });
        v.samples.push(sample(bs.name, round, r));
      }
      workers.push(v);
    }
    return { read, availability, workers };
  } finally {
    for (const t of targets) await t.stop().catch(() => {});
  }
}

/** Benchmark 2: unique bodies, fresh store per run, client-computed digests. */
export async function putBenchmarks(cfg: NetConfig, sizes: [string, number][]): Promise<Variant[]> {
  const starters: [string, () => Promise<Target>][] = [
    [BUNDLESYNC, () => startBundlesync()],
    [RAW, startRaw],
  ];
  if (registryAvailable()) starters.push([REGISTRY, startRegistry]);
  const out: Variant[] = [];
  for (const [label, size] of sizes) {
    const gen = uniqueBodies(size, "put");
    let counter = 0;
    for (const conns of [1, 16]) {
      const v: Variant = { name: `PUT ${label}, concurrency ${conns}`, client: "bun fetch", samples: [] };
      for (let round = 0; round < cfg.rounds; round++) {
        for (const [name, start] of starters) {
          let t: Target;
          try {
            t = await start();
          } catch (e) {
            cfg.notes.push(`${name} could not start for a PUT run (${(e as Error).message}).`);
            continue;
          }
          try {
            const r = await runLoad({
              durationMs: cfg.durationS * 1000,
              concurrency: conns,
              serverPid: t.pid,
              op: () => t.put(gen.make(counter++)),
            });
            v.samples.push(sample(name, round, r));
          } finally {
            await t.stop().catch(() => {});
          }
        }
      }
      cfg.log(`  ${v.name} done`);
      out.push(v);
    }
  }
  return out;
}

export type { Target };
/** Sequential latencies of one request kind (ms). */
export { BUNDLESYNC, RAW, REGISTRY, sequential };
