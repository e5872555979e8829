/**
 * `bun run bench` (full) / `bun run bench --quick`: runs every benchmark of the bench
 * issue on loopback and writes bench/report.json and bench/REPORT.md. Installs wrk and
 * docker-registry through apt when missing (root only), starts and stops every server it
 * uses, bounds every load loop in time, and says in the report what could not run.
 * No speed assertion anywhere: a missed target is reported, never a failure.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { cleanup } from "../tests/e2e/harness.ts";
import { exeBenchmark, growthBenchmark } from "./exe.ts";
import { fanout } from "./fanout.ts";
import { inprocRound, SIZES, serializerRound } from "./inproc.ts";
import { BENCH_DIR, hasCommand, removeWorkDirs, summarize, WORK_DIR } from "./lib.ts";
import { putBenchmarks, readBenchmarks, type Variant } from "./net.ts";
import { renderReport } from "./report.ts";
import { BIN } from "./servers.ts";

const QUICK = process.argv.includes("--quick");

// `--render`: rewrite bench/REPORT.md from bench/report.json (after editing bench/NOTES.md).
if (process.argv.includes("--render")) {
  const saved = JSON.parse(readFileSync(join(BENCH_DIR, "report.json"), "utf8"));
  writeFileSync(join(BENCH_DIR, "REPORT.md"), renderReport(saved));
  process.exit(0);
}
const started = performance.now();
const log = (m: string) => console.log(`[bench ${((performance.now() - started) / 1000).toFixed(0)}s] ${m}`);

const CFG = QUICK
  ? {
      rounds: 1,
      durationS: 1,
      others: 200,
      inprocBudgetMs: 60,
      putSizes: [["64 KiB", 64 * 1024]] as [string, number][],
      fanout: [1, 5],
      edits: 3,
      coldSpawns: 5,
      growth: [100, 1000],
      growthSamples: 50,
    }
  : {
      rounds: 3,
      durationS: 4,
      others: 3000,
      inprocBudgetMs: 400,
      putSizes: [
        ["64 KiB", 64 * 1024],
        ["1 MiB", 1024 * 1024],
      ] as [string, number][],
      fanout: [1, 5, 10, 20],
      edits: 12,
      coldSpawns: 20,
      growth: [100, 10_000, 100_000],
      growthSamples: 300,
    };

const notes: string[] = [];
const errors: string[] = [];

/** Debian packages the comparisons need, installed when missing and possible. */
async function ensureTools(): Promise<void> {
  const missing = [
    ["wrk", "wrk"],
    ["docker-registry", "docker-registry"],
  ].filter(([cmd]) => !hasCommand(cmd!));
  if (missing.length === 0) return;
  const pkgs = missing.map(([, pkg]) => pkg!);
  if (!hasCommand("apt-get") || process.getuid?.() !== 0) {
    notes.push(`Not installed and apt-get is not usable here: ${pkgs.join(", ")}.`);
    return;
  }
  log(`installing ${pkgs.join(", ")} with apt-get`);
  const run = async (args: string[]) => {
    const p = Bun.spawn(args, {
      stdout: "ignore",
      stderr: "ignore",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), 180_000);
    await p.exited;
    clearTimeout(timer);
    return p.exitCode === 0;
  };
  if (!(await run(["apt-get", "install", "-y", "-q", ...pkgs]))) {
    await run(["apt-get", "update", "-q"]);
    await run(["apt-get", "install", "-y", "-q", ...pkgs]);
  }
  for (const pkg of pkgs) if (!hasCommand(pkg)) notes.push(`${pkg} could not be installed; its part is skipped.`);
}

async function ensureBinary(): Promise<void> {
  if (existsSync(BIN)) return;
  log("building dist/bundlesync");
  const p = Bun.spawn([process.execPath, "run", "build"], { cwd: join(BENCH_DIR, ".."), stdout: "ignore" });
  await p.exited;
  if (p.exitCode !== 0) throw new Error("bun run build failed");
}

async function step<T>(name: string, fn: () => Promise<T> | T): Promise<T | undefined> {
  log(`${name}…`);
  const t0 = performance.now();
  try {
    const r = await fn();
    log(`${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  } catch (e) {
    const msg = `${name} failed: ${(e as Error).message}`;
    errors.push(msg);
    log(msg);
    return undefined;
  }
}

function machine() {
  const c = cpus();
  let load = "";
  try {
    load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {}
  return { cpus: c.length, cpuModel: c[0]?.model ?? "", bun: Bun.version, loadAvgAtStart: load };
}

await ensureTools();
await ensureBinary();
const machineInfo = machine();
const netCfg = { rounds: CFG.rounds, durationS: CFG.durationS, others: CFG.others, log, notes };

const read = await step("1/4/5 GET, HEAD, 304, availability, workers", () => readBenchmarks(netCfg));
await cleanup();
const put = await step("2 PUT", () => putBenchmarks(netCfg, CFG.putSizes));
await cleanup();
const inproc = await step("3 in-process validation + digest", () => {
  const rounds = Array.from({ length: CFG.rounds }, () => inprocRound(CFG.inprocBudgetMs));
  const serializers = serializerRound(CFG.inprocBudgetMs / 2);
  return { rounds, serializers };
});
const fan = await step("6 sync fan-out", async () => {
  const out = [];
  for (const n of CFG.fanout) {
    out.push(await fanout(n, CFG.edits, log));
    log(`  fan-out to ${n} done`);
    await cleanup();
  }
  return out;
});
const exe = await step("7 executable", () => exeBenchmark(CFG.coldSpawns, notes));
await cleanup();
const growth = await step("8 cost curve", () => growthBenchmark(CFG.growth, CFG.growthSamples, log));
await cleanup();
removeWorkDirs();

const report = {
  generatedAt: new Date().toISOString(),
  mode: QUICK ? "quick" : "full",
  durationS: Math.round((performance.now() - started) / 1000),
  machine: machineInfo,
  config: CFG,
  tools: { wrk: hasCommand("wrk"), dockerRegistry: hasCommand("docker-registry") },
  notes,
  errors,
  benchmarks: {
    read: read?.read,
    put,
    availability: read?.availability,
    workers: read?.workers,
    inproc: inproc && {
      sizes: SIZES.map(([l]) => l),
      rounds: inproc.rounds,
      summary: SIZES.map(([label], i) => {
        const rows = inproc.rounds.map((r) => r[i]!);
        return {
          size: label,
          bytes: rows[0]!.bytes,
          baselineUs: summarize(rows.map((r) => r.baselineUs)),
          fullUs: summarize(rows.map((r) => r.fullUs)),
          ratio: summarize(rows.map((r) => r.fullUs / r.baselineUs)),
          stagesUs: Object.fromEntries(
            Object.keys(rows[0]!.stages).map((k) => [k, summarize(rows.map((r) => r.stages[k]!)).median]),
          ),
        };
      }),
      serializers: inproc.serializers,
    },
    fanout: fan,
    executable: exe,
    growth,
  },
};

// Quick mode must not overwrite the committed figures of a full run.
const outDir = QUICK ? WORK_DIR : BENCH_DIR;
mkdirSync(outDir, { recursive: true });
const [jsonName, mdName] = QUICK ? ["report-quick.json", "REPORT-quick.md"] : ["report.json", "REPORT.md"];
writeFileSync(join(outDir, jsonName), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(join(outDir, mdName), renderReport(report));
log(`wrote ${QUICK ? "bench/.work/" : "bench/"}${jsonName} and ${mdName} (${report.durationS} s)`);
if (errors.length > 0) {
  console.error(`bench: ${errors.length} benchmark(s) failed:\n  ${errors.join("\n  ")}`);
  process.exit(1);
}
process.exit(0);

export type Report = typeof report;
export type { Variant };
