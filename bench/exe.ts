/**
 * Benchmark 7 (the executable: cold start, idle RSS, RSS after 1000 stored bundles) and
 * benchmark 8 (cost curve: lookups and database size as the store grows).
 */
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { normalizePolicy } from "../src/runtime/policy.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { cleanEnv, spawn } from "../tests/e2e/harness.ts";
import { smallBundle, uniqueBodies } from "./bundles.ts";
import { BENCH_DIR, median, rssMiB, sequential, summarize, WORK_DIR, workDir } from "./lib.ts";
import { BIN, startBundlesync, TOKEN } from "./servers.ts";

/** ms from spawn to the `listening` line on stdout. */
async function timeToListening(cmd: string[]): Promise<number> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { cwd: WORK_DIR, env: cleanEnv(), stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let ms = Number.NaN;
  const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (text.includes('"event":"listening"')) {
      ms = performance.now() - t0;
      break;
    }
  }
  clearTimeout(timer);
  proc.kill("SIGTERM");
  await proc.exited;
  return ms;
}

async function bareBinary(): Promise<string | undefined> {
  const out = join(WORK_DIR, "bare-server");
  if (existsSync(out)) return out;
  const p = Bun.spawn([process.execPath, "build", "--compile", join(BENCH_DIR, "bare-server.ts"), "--outfile", out], {
    stdout: "ignore",
    stderr: "pipe",
  });
  await p.exited;
  return p.exitCode === 0 ? out : undefined;
}

export interface ExeResult {
  coldStartMs: { bundlesync: ReturnType<typeof summarize>; bare?: ReturnType<typeof summarize> };
  idleRssMiB: number;
  rssAfter1000MiB: number;
  storedForRss: number;
}

export async function exeBenchmark(spawns: number, notes: string[]): Promise<ExeResult> {
  const bare = await bareBinary();
  if (!bare) notes.push("The bare Bun.serve comparison for cold start could not be compiled; skipped.");
  const bs: number[] = [];
  const bareTimes: number[] = [];
  for (let i = 0; i < spawns; i++) {
    const data = workDir("cold");
    bs.push(await timeToListening([BIN, "--mode", "runtime", "--listen", "127.0.0.1:0", "--data", data]));
    if (bare) bareTimes.push(await timeToListening([bare]));
  }
  // RSS: idle after start, then after storing 1000 unique 64 KiB bundles and reading each once.
  const t = await startBundlesync();
  try {
    await Bun.sleep(1000);
    const idle = rssMiB(t.pid);
    const gen = uniqueBodies(64 * 1024, "rss");
    const blobs = Array.from({ length: 1000 }, (_, i) => gen.make(i));
    let stored = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < blobs.length) {
          const b = blobs[next++]!;
          if (await t.put(b)) stored++;
          const r = await fetch(t.blobUrl(b), { headers: t.headers });
          await r.arrayBuffer();
        }
      }),
    );
    await Bun.sleep(500);
    return {
      coldStartMs: { bundlesync: summarize(bs), ...(bare && { bare: summarize(bareTimes) }) },
      idleRssMiB: idle,
      rssAfter1000MiB: rssMiB(t.pid),
      storedForRss: stored,
    };
  } finally {
    await t.stop();
  }
}

export interface GrowthLevel {
  bundles: number;
  populateS: number;
  dbBytesPerBundle: number;
  getFirstMs: ReturnType<typeof summarize>;
  getMs: ReturnType<typeof summarize>;
  headMs: ReturnType<typeof summarize>;
  availabilityMs: ReturnType<typeof summarize>;
}

function dirBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f.startsWith("runtime.sqlite"))
    .reduce((a, f) => a + statSync(join(dir, f)).size, 0);
}

/**
 * One store grown through the levels. Rows are written through the Runtime library API
 * (full validation, same code as a PUT, without HTTP) so 100,000 rows take seconds, then
 * the executable is started on that store and measured.
 */
export async function growthBenchmark(
  levels: number[],
  samples: number,
  log: (m: string) => void,
): Promise<GrowthLevel[]> {
  const dir = workDir("growth");
  const data = join(dir, "data");
  const policy = normalizePolicy({ limits: { maxBundles: 200_000 } });
  const digests: { id: string; digest: string }[] = [];
  const out: GrowthLevel[] = [];
  writeFileSync(join(dir, "token"), TOKEN);
  for (const level of levels) {
    const t0 = performance.now();
    const rt = new Runtime({ dataDir: data, policy });
    for (let i = digests.length; i < level; i++) {
      const b = smallBundle(i, "grow");
      rt.putBundle(b.digest, JSON.parse(b.body));
      digests.push({ id: b.id, digest: b.digest });
    }
    rt.close();
    const populateS = (performance.now() - t0) / 1000;
    const dbBytesPerBundle = dirBytes(data) / level;
    const t = await startBundlesync({ dataDir: data });
    try {
      const pick = (k: number) => digests[Math.floor((k * 2654435761) % digests.length)]!;
      const get = (d: string) => async () => {
        const r = await fetch(`${t.url}/v1/config-bundles/${d}`, { headers: t.headers });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`GET ${r.status}`);
      };
      let k = 0;
      const getFirst = await sequential(samples, 20_000, () => get(pick(k++).digest)());
      k = 0;
      const getWarm = await sequential(samples, 20_000, () => get(pick(k++).digest)());
      k = 0;
      const head = await sequential(samples, 20_000, async () => {
        const r = await fetch(`${t.url}/v1/config-bundles/${pick(k++).digest}`, { method: "HEAD", headers: t.headers });
        if (r.status !== 200) throw new Error(`HEAD ${r.status}`);
      });
      const refs = Array.from({ length: 1000 }, (_, i) => pick(i * 7 + 1));
      const body = JSON.stringify({ refs });
      const avail = await sequential(Math.max(5, Math.floor(samples / 10)), 20_000, async () => {
        const r = await fetch(`${t.url}/v1/config-bundles/availability`, {
          method: "POST",
          body,
          headers: { ...t.headers, "content-type": "application/json" },
        });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`availability ${r.status}`);
      });
      out.push({
        bundles: level,
        populateS,
        dbBytesPerBundle,
        getFirstMs: summarize(getFirst),
        getMs: summarize(getWarm),
        headMs: summarize(head),
        availabilityMs: summarize(avail),
      });
      log(`  ${level} bundles: GET median ${median(getWarm).toFixed(3)} ms`);
    } finally {
      await t.stop();
    }
  }
  return out;
}

export { spawn };
