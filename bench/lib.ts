/**
 * Benchmark plumbing: statistics, per-process CPU and RSS from /proc, a time-bounded
 * load generator (Bun fetch), wrk runs, and temp dirs. No product code here.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = fileURLToPath(new URL("./", import.meta.url));
export const WORK_DIR = join(BENCH_DIR, ".work");

const workDirs: string[] = [];

/** A fresh directory under bench/.work/, removed by `removeWorkDirs()`. */
export function workDir(prefix: string): string {
  mkdirSync(WORK_DIR, { recursive: true });
  const dir = mkdtempSync(join(WORK_DIR, `${prefix}-`));
  workDirs.push(dir);
  return dir;
}

export function removeWorkDirs(): void {
  for (const d of workDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// Statistics

export interface Summary {
  median: number;
  p99: number;
  min: number;
  max: number;
  n: number;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx]!;
}

export function summarize(values: number[]): Summary {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return {
    median: quantile(s, 0.5),
    p99: quantile(s, 0.99),
    min: s[0] ?? Number.NaN,
    max: s.at(-1) ?? Number.NaN,
    n: s.length,
  };
}

export const median = (values: number[]) => summarize(values).median;

// ---------------------------------------------------------------------------------------
// /proc

const CLK_TCK = 100;

/** utime + stime of a process (all its threads), in µs. */
export function cpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** Resident set size in MiB. */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------------------------------
// Load

export interface LoadResult {
  /** Completed requests with the expected status. */
  ok: number;
  errors: number;
  seconds: number;
  rps: number;
  /** Latencies in ms of the successful requests. */
  latencies: number[];
  p50: number;
  p99: number;
  /** Server CPU µs per completed request (NaN when no pid given). */
  cpuUsPerReq: number;
}

/**
 * Runs `op` with `concurrency` loops until `durationMs` passes or `maxOps` operations started.
 * `op` returns true when the response was the expected one.
 */
export async function runLoad(opts: {
  durationMs: number;
  concurrency: number;
  maxOps?: number;
  serverPid?: number;
  op: (i: number) => Promise<boolean>;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const max = opts.maxOps ?? Number.POSITIVE_INFINITY;
  const cpu0 = opts.serverPid ? cpuMicros(opts.serverPid) : Number.NaN;
  const t0 = performance.now();
  const deadline = t0 + opts.durationMs;
  const loops = Array.from({ length: opts.concurrency }, async () => {
    while (performance.now() < deadline && next < max) {
      const i = next++;
      const s = performance.now();
      let good = false;
      try {
        good = await opts.op(i);
      } catch {
        good = false;
      }
      if (good) latencies.push(performance.now() - s);
      else errors++;
    }
  });
  await Promise.all(loops);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = opts.serverPid ? cpuMicros(opts.serverPid) : Number.NaN;
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    ok: latencies.length,
    errors,
    seconds,
    rps: latencies.length / seconds,
    latencies: sorted,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    cpuUsPerReq: (cpu1 - cpu0) / Math.max(1, latencies.length),
  };
}

/** Latencies of `count` sequential calls (ms), bounded by `maxMs`. */
export async function sequential(count: number, maxMs: number, op: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  const deadline = performance.now() + maxMs;
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const s = performance.now();
    await op();
    out.push(performance.now() - s);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// wrk

export function hasCommand(cmd: string): boolean {
  return Bun.which(cmd) !== null;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  if (unit === "us") return v / 1000;
  if (unit === "s") return v * 1000;
  if (unit === "m") return v * 60_000;
  return v;
}

/** One wrk run. wrk's own latency percentiles; requests counted from its summary. */
export async function runWrk(opts: {
  url: string;
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
  serverPid?: number;
}): Promise<LoadResult> {
  const args = ["wrk", "-t1", `-c${opts.connections}`, `-d${opts.durationS}s`, "--latency", "--timeout", "5s"];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push("-H", `${k}: ${v}`);
  args.push(opts.url);
  const cpu0 = opts.serverPid ? cpuMicros(opts.serverPid) : Number.NaN;
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), (opts.durationS + 15) * 1000);
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  clearTimeout(timer);
  const cpu1 = opts.serverPid ? cpuMicros(opts.serverPid) : Number.NaN;
  const total = Number(/(\d+) requests in ([\d.]+)(ms|s|m)/.exec(out)?.[1] ?? Number.NaN);
  const secs = /requests in ([\d.]+)(ms|s|m)/.exec(out);
  const seconds = secs ? toMs(secs[1]!, secs[2]!) / 1000 : Number.NaN;
  const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = bad + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const pct = (p: string) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s|m)`).exec(out);
    return m ? toMs(m[1]!, m[2]!) : Number.NaN;
  };
  const ok = total - bad;
  return {
    ok,
    errors,
    seconds,
    rps: ok / seconds,
    latencies: [],
    p50: pct("50"),
    p99: pct("99"),
    cpuUsPerReq: (cpu1 - cpu0) / Math.max(1, ok),
  };
}

// ---------------------------------------------------------------------------------------
// Formatting

export function fmt(v: number | undefined, digits = 2): string {
  if (v === undefined || !Number.isFinite(v)) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(Math.min(1, digits));
  return v.toFixed(digits);
}

export function mdTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}
