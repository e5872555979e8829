/** bench/REPORT.md from the report object: one table per benchmark, targets met or missed. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FanoutResult } from "./fanout.ts";
import type { InprocRound } from "./inproc.ts";
import { BENCH_DIR, fmt, mdTable, type Summary, summarize } from "./lib.ts";
import { BUNDLESYNC, RAW, REGISTRY, type Sample, type Variant } from "./net.ts";

interface ReportLike {
  generatedAt: string;
  mode: string;
  durationS: number;
  machine: { cpus: number; cpuModel: string; bun: string; loadAvgAtStart: string };
  config: { rounds: number; durationS: number; others: number; edits: number };
  tools: { wrk: boolean; dockerRegistry: boolean };
  notes: string[];
  errors: string[];
  benchmarks: {
    read?: Variant[];
    put?: Variant[];
    availability?: Variant[];
    workers?: Variant[];
    inproc?: {
      rounds: InprocRound[][];
      summary: {
        size: string;
        bytes: number;
        baselineUs: Summary;
        fullUs: Summary;
        ratio: Summary;
        stagesUs: Record<string, number>;
      }[];
      serializers: { name: string; exact: string; usBySize: Record<string, number> }[];
    };
    fanout?: FanoutResult[];
    executable?: {
      coldStartMs: { bundlesync: Summary; bare?: Summary };
      idleRssMiB: number;
      rssAfter1000MiB: number;
      storedForRss: number;
    };
    growth?: {
      bundles: number;
      populateS: number;
      dbBytesPerBundle: number;
      getFirstMs: Summary;
      getMs: Summary;
      headMs: Summary;
      availabilityMs: Summary;
    }[];
  };
}

const of = (v: Variant, target: string) => v.samples.filter((s) => s.target === target);

/** Per-round ratios target/raw of `pick` (same round only). */
export function ratios(v: Variant, target: string, pick: (s: Sample) => number, invert = false): Summary {
  const out: number[] = [];
  for (const s of of(v, target)) {
    const base = v.samples.find((b) => b.target === RAW && b.round === s.round);
    if (!base) continue;
    out.push(invert ? pick(base) / pick(s) : pick(s) / pick(base));
  }
  return summarize(out);
}

const range = (s: Summary, d = 2) => `${fmt(s.min, d)}–${fmt(s.max, d)}`;

function variantTable(v: Variant, rps = "req/s"): string {
  const targets = [BUNDLESYNC, RAW, REGISTRY].filter((t) => of(v, t).length > 0);
  const rows = targets.map((t) => {
    const ss = of(v, t);
    const r = summarize(ss.map((s) => s.rps));
    const p99 = summarize(ss.map((s) => s.p99));
    const cpu = summarize(ss.map((s) => s.cpuUsPerReq));
    const errs = ss.reduce((a, s) => a + s.errors, 0);
    const ratio = t === RAW ? undefined : ratios(v, t, (s) => s.rps);
    const cpuRatio = t === RAW ? undefined : ratios(v, t, (s) => s.cpuUsPerReq, true);
    return [
      t,
      fmt(r.median, 0),
      range(r, 0),
      fmt(p99.median, 3),
      range(p99, 3),
      fmt(cpu.median, 0),
      ratio ? `${fmt(ratio.median)}× (${range(ratio)})` : "1",
      cpuRatio ? `${fmt(cpuRatio.median)}×` : "1",
      String(errs),
    ];
  });
  return mdTable(
    [
      "server",
      `${rps} median`,
      "min–max",
      "p99 ms median",
      "p99 min–max",
      "server CPU µs/req",
      "ratio to raw (same round)",
      "CPU ratio (raw µs / µs)",
      "errors",
    ],
    rows,
  );
}

interface Target {
  what: string;
  figure: string;
  met: boolean | undefined;
}

function targets(r: ReportLike): Target[] {
  const out: Target[] = [];
  const b = r.benchmarks;
  for (const v of b.read?.filter((x) => x.name.startsWith("GET 64")) ?? []) {
    const q = ratios(v, BUNDLESYNC, (s) => s.rps);
    const c = ratios(v, BUNDLESYNC, (s) => s.cpuUsPerReq, true);
    out.push({
      what: `${v.name}: ≥ 0.8× raw`,
      figure: `${fmt(q.median)}× req/s (${range(q)}); CPU ${fmt(c.median)}×`,
      met: q.median >= 0.8,
    });
  }
  for (const v of b.put ?? []) {
    const q = ratios(v, BUNDLESYNC, (s) => s.rps);
    const c = ratios(v, BUNDLESYNC, (s) => s.cpuUsPerReq, true);
    out.push({
      what: `${v.name}: ≥ 0.5× raw`,
      figure: `${fmt(q.median)}× uploads/s (${range(q)}); CPU ${fmt(c.median)}×`,
      met: q.median >= 0.5,
    });
  }
  for (const s of b.inproc?.summary ?? []) {
    out.push({
      what: `validation + digest ${s.size}: ≤ 3× parse + hash`,
      figure: `${fmt(s.ratio.median)}× (${range(s.ratio)})`,
      met: s.ratio.median <= 3,
    });
  }
  for (const v of [...(b.read ?? []), ...(b.put ?? [])]) {
    if (of(v, REGISTRY).length === 0) continue;
    const q = ratios(v, REGISTRY, (s) => s.rps);
    out.push({
      what: `docker-registry ${v.name} (reported, not a bar)`,
      figure: `${fmt(q.median)}× raw`,
      met: undefined,
    });
  }
  const f20 = b.fanout?.find((f) => f.runtimes === 20);
  if (f20) {
    out.push({ what: "fan-out to 20 runtimes: p50 < 1 s", figure: `${fmt(f20.p50, 0)} ms`, met: f20.p50 < 1000 });
    out.push({
      what: "fan-out to 20 runtimes: p99 < 2 s",
      figure: `${fmt(f20.p99, 0)} ms`,
      met: f20.p99 < 2000 && f20.missed === 0,
    });
  }
  const e = b.executable;
  if (e) {
    const cs = e.coldStartMs.bundlesync.median;
    out.push({ what: "cold start to listening < 60 ms", figure: `${fmt(cs, 1)} ms median`, met: cs < 60 });
    out.push({ what: "idle RSS < 64 MiB", figure: `${fmt(e.idleRssMiB, 1)} MiB`, met: e.idleRssMiB < 64 });
    out.push({
      what: "RSS after 1000 stored bundles < 128 MiB",
      figure: `${fmt(e.rssAfter1000MiB, 1)} MiB`,
      met: e.rssAfter1000MiB < 128,
    });
  }
  const g = b.growth;
  if (g && g.length >= 2) {
    const first = g[0]!;
    const last = g.at(-1)!;
    const growth = last.getMs.median / first.getMs.median;
    out.push({
      what: `GET stays flat from ${first.bundles} to ${last.bundles} bundles (≤ 2× median)`,
      figure: `${fmt(growth)}× (${fmt(first.getMs.median, 3)} → ${fmt(last.getMs.median, 3)} ms)`,
      met: growth <= 2,
    });
  }
  return out;
}

export function renderReport(r: ReportLike): string {
  const b = r.benchmarks;
  const md: string[] = [];
  md.push("# bundlesync benchmarks");
  md.push(
    `Generated by \`bun run bench${r.mode === "quick" ? " --quick" : ""}\` (${r.mode} mode) at ${r.generatedAt} in ${r.durationS} s, on loopback. ` +
      `Machine: ${r.machine.cpus} CPUs (${r.machine.cpuModel}), Bun ${r.machine.bun}, load average at start ${r.machine.loadAvgAtStart}; ` +
      "client and servers share these cores with other work, so req/s swing: server CPU per request (utime + stime from /proc over the run, divided by requests completed) is the steadier figure. " +
      `Each table has ${r.config.rounds} round(s) of ${r.config.durationS} s per cell; within a round the servers alternate (bundlesync, raw, docker-registry, then again) and ratios are taken inside one round only.`,
  );
  md.push(
    "Servers: **bundlesync** is the compiled `dist/bundlesync --mode runtime` with a bearer token (auth is part of the cost); **raw** is `bench/raw-server.ts` (bare `Bun.serve` + `bun:sqlite`, WAL, prepared statements, rowid table, no validation, no framework); **docker-registry** is the Debian package (distribution 2.8, filesystem storage in a temp dir, in-memory blob descriptor cache, access log off). All serve the same bytes.",
  );
  if (r.notes.length > 0) md.push(`**Notes.**\n\n${r.notes.map((n) => `- ${n}`).join("\n")}`);
  if (r.errors.length > 0) md.push(`**Errors.**\n\n${r.errors.map((n) => `- ${n}`).join("\n")}`);

  md.push("## Targets");
  md.push(
    mdTable(
      ["target", "measured", "result"],
      targets(r).map((t) => [t.what, t.figure, t.met === undefined ? "reported" : t.met ? "met" : "**missed**"]),
    ),
  );

  if (b.read) {
    md.push("## 1. GET, HEAD and conditional GET of a 64 KiB bundle");
    md.push(
      `${r.config.others} other bundles (1–4 KiB) stored alongside. GET and 304 by ${r.tools.wrk ? "wrk 4.1 (1 thread)" : "the Bun client (wrk missing)"}; HEAD by a Bun fetch client (wrk cannot HEAD). The first read of a row in a process re-verifies it fully and is done before measuring; later reads compare a Bun.hash checksum with the one this process verified.`,
    );
    for (const v of b.read) md.push(`### ${v.name} (${v.client})\n\n${variantTable(v)}`);
  }
  if (b.put) {
    md.push("## 2. PUT of new, unique bundles with full validation");
    md.push(
      "A fresh store per run; every body is unique (a nonce in the workspace description) with its digest computed by the client. bundlesync: `PUT /v1/config-bundles/{digest}` with full store-time validation; raw: the same PUT, stored unvalidated; docker-registry: monolithic upload, `POST /v2/bench/blobs/uploads/` then `PUT <location>&digest=` (two requests per upload).",
    );
    for (const v of b.put) md.push(`### ${v.name}\n\n${variantTable(v, "uploads/s")}`);
  }
  if (b.inproc) {
    md.push("## 3. In-process validation + digest");
    md.push(
      "Validation + digest = `JSON.parse` + `verifyBundle` (schema, schema version, canonical form, SHA-256, forbidden-content scan, declaration kinds, references), against `JSON.parse` + SHA-256 of the same text. Median µs per document; each stage timed on its own.",
    );
    md.push(
      mdTable(
        ["size", "bytes", "parse + hash µs", "MB/s", "validation + digest µs", "MB/s", "ratio (min–max)"],
        b.inproc.summary.map((s) => [
          s.size,
          s.bytes.toLocaleString("en-US"),
          fmt(s.baselineUs.median, 1),
          fmt(s.bytes / s.baselineUs.median, 0),
          fmt(s.fullUs.median, 1),
          fmt(s.bytes / s.fullUs.median, 0),
          `${fmt(s.ratio.median)}× (${range(s.ratio)})`,
        ]),
      ),
    );
    const stages = Object.keys(b.inproc.summary[0]?.stagesUs ?? {});
    md.push(
      `Stages, µs per document:\n\n${mdTable(
        ["size", ...stages],
        b.inproc.summary.map((s) => [s.size, ...stages.map((k) => fmt(s.stagesUs[k], 1))]),
      )}`,
    );
    const sizes = b.inproc.summary.map((s) => s.size);
    md.push(
      `Canonical serializers, µs per document (the bundle as parsed from canonical text); "exact" = identical to the \`canonicalize\` oracle on RFC 8785's number, key-order and escaping cases and on the 64 KiB document:\n\n${mdTable(
        ["serializer", "exact RFC 8785", ...sizes],
        b.inproc.serializers.map((s) => [s.name, s.exact, ...sizes.map((z) => fmt(s.usBySize[z], 1))]),
      )}`,
    );
  }
  if (b.availability) {
    md.push("## 4. POST /v1/config-bundles/availability with 1000 refs");
    md.push(
      "900 stored refs and 100 missing, one request at a time. raw answers the same question with one `json_each` query.",
    );
    for (const v of b.availability) md.push(`### ${v.name}\n\n${variantTable(v)}`);
  }
  if (b.workers) {
    md.push("## 5. POST /v1/workers in bundle mode");
    md.push("Named profile from the 64 KiB bundle (an `extends` chain), no workerId; bundlesync only.");
    md.push(
      mdTable(
        ["concurrency", "req/s median", "p50 ms", "p99 ms median", "p99 min–max", "server CPU µs/req", "errors"],
        b.workers.map((v) => {
          const s = v.samples;
          const p99 = summarize(s.map((x) => x.p99));
          return [
            v.name.replace(/.*concurrency /, ""),
            fmt(summarize(s.map((x) => x.rps)).median, 0),
            fmt(summarize(s.map((x) => x.p50)).median, 3),
            fmt(p99.median, 3),
            range(p99, 3),
            fmt(summarize(s.map((x) => x.cpuUsPerReq)).median, 0),
            String(s.reduce((a, x) => a + x.errors, 0)),
          ];
        }),
      ),
    );
  }
  if (b.fanout) {
    md.push("## 6. Sync fan-out");
    md.push(
      "One backend process (`--no-embedded-runtime`) syncing the example workspace to N runtime processes of `dist/bundlesync` over HTTP with bearer tokens; sync config `debounceMs: 20, healthSeconds: 5, retryBaseMs: 100`. Each edit appends a line to a prompt file; the time runs from the write until every runtime has logged `bundle_stored` for the new revision (read from its log stream as it arrives, so nothing polls the runtimes).",
    );
    md.push(
      mdTable(
        [
          "runtimes",
          "edits",
          "all runtimes p50 ms",
          "all runtimes p99 ms",
          "per runtime p50 ms",
          "per runtime p99 ms",
          "missed",
        ],
        b.fanout.map((f) => [
          String(f.runtimes),
          String(f.edits),
          fmt(f.p50, 0),
          fmt(f.p99, 0),
          fmt(f.eachP50, 0),
          fmt(f.eachP99, 0),
          String(f.missed),
        ]),
      ),
    );
  }
  if (b.executable) {
    const e = b.executable;
    md.push("## 7. The executable");
    const cs = e.coldStartMs;
    md.push(
      mdTable(
        ["measure", "bundlesync", "bare compiled Bun.serve"],
        [
          [
            `cold start to listening line, ms (median of ${cs.bundlesync.n}; min–max)`,
            `${fmt(cs.bundlesync.median, 1)} (${range(cs.bundlesync, 1)})`,
            cs.bare ? `${fmt(cs.bare.median, 1)} (${range(cs.bare, 1)})` : "–",
          ],
          ["idle RSS, MiB (1 s after start)", fmt(e.idleRssMiB, 1), "–"],
          [
            `RSS after storing ${e.storedForRss} unique 64 KiB bundles and reading each once, MiB`,
            fmt(e.rssAfter1000MiB, 1),
            "–",
          ],
        ],
      ),
    );
  }
  if (b.growth) {
    md.push("## 8. Cost curve as the store grows");
    md.push(
      'Small (1–4 KiB) bundles, written through the Runtime library API (full validation, no HTTP), then the executable is started on the store. Sequential requests over a spread of stored digests; "first GET" is the first read of a row in the process (full re-verification); later GETs are checksum-verified. Database size = the SQLite files after the writer closed.',
    );
    md.push(
      mdTable(
        [
          "bundles",
          "DB bytes / bundle",
          "first GET ms p50 / p99",
          "GET ms p50 / p99",
          "HEAD ms p50 / p99",
          "availability (1000 refs) ms p50 / p99",
          "populate s",
        ],
        b.growth.map((g) => [
          g.bundles.toLocaleString("en-US"),
          fmt(g.dbBytesPerBundle, 0),
          `${fmt(g.getFirstMs.median, 3)} / ${fmt(g.getFirstMs.p99, 3)}`,
          `${fmt(g.getMs.median, 3)} / ${fmt(g.getMs.p99, 3)}`,
          `${fmt(g.headMs.median, 3)} / ${fmt(g.headMs.p99, 3)}`,
          `${fmt(g.availabilityMs.median, 2)} / ${fmt(g.availabilityMs.p99, 2)}`,
          fmt(g.populateS, 1),
        ]),
      ),
    );
  }
  const notes = join(BENCH_DIR, "NOTES.md");
  if (existsSync(notes)) md.push(readFileSync(notes, "utf8").trim());
  return `${md.join("\n\n")}\n`;
}
