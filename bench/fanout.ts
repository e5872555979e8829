/**
 * Benchmark 6: sync fan-out. A backend (dist/bundlesync --mode backend, no embedded
 * runtime) watches one workspace and syncs it to N runtime processes. Each edit of a
 * workspace file is timed until every runtime has logged `bundle_stored` for the new
 * revision (read from its stderr as it arrives: no polling load on the runtimes).
 */
import { appendFileSync, cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLES, type Server, spawn } from "../tests/e2e/harness.ts";
import { quantile, workDir } from "./lib.ts";
import { TOKEN } from "./servers.ts";

export const FANOUT_SYNC = {
  reconcileSeconds: 3600,
  healthSeconds: 5,
  retryBaseMs: 100,
  retryMaxMs: 1000,
  debounceMs: 20,
  requestTimeoutMs: 5000,
};

export interface FanoutResult {
  runtimes: number;
  edits: number;
  /** Per edit: ms until the last runtime held the new revision. */
  allMs: number[];
  p50: number;
  p99: number;
  /** Per edit and runtime: ms until that runtime held it. */
  eachP50: number;
  eachP99: number;
  missed: number;
}

function storedRevision(s: Server, from: number, revision: number): boolean {
  for (let i = from; i < s.stderr.length; i++) {
    const line = s.stderr[i]!;
    if (line.includes('"bundle_stored"') && line.includes(`"revision":${revision}`)) return true;
  }
  return false;
}

export async function fanout(n: number, edits: number, log: (m: string) => void): Promise<FanoutResult> {
  const dir = workDir(`fanout${n}`);
  const ws = join(dir, "workspace");
  cpSync(join(EXAMPLES, "workspace"), ws, { recursive: true });
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, TOKEN);
  const servers: Server[] = [];
  try {
    const runtimes = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        spawn("runtime", ["--listen", "127.0.0.1:0", "--data", join(dir, `rt${i}`), "--token-file", tokenFile]),
      ),
    );
    servers.push(...runtimes);
    const config = join(dir, "backend.yaml");
    writeFileSync(
      config,
      JSON.stringify({
        workspaces: [{ source: ws }],
        runtimes: runtimes.map((r, i) => ({ id: `rt${i}`, endpoint: r.url, tokenFile, workspaces: ["*"] })),
        sync: FANOUT_SYNC,
      }),
    );
    const backend = await spawn("backend", [
      "--listen",
      "127.0.0.1:0",
      "--data",
      join(dir, "backend"),
      "--config",
      config,
      "--no-embedded-runtime",
    ]);
    servers.push(backend);
    const waitAll = async (revision: number, marks: number[], t0: number, timeoutMs: number) => {
      const at: (number | undefined)[] = runtimes.map(() => undefined);
      const deadline = performance.now() + timeoutMs;
      while (at.some((a) => a === undefined) && performance.now() < deadline) {
        runtimes.forEach((r, i) => {
          if (at[i] === undefined && storedRevision(r, marks[i]!, revision)) at[i] = performance.now() - t0;
        });
        await Bun.sleep(1);
      }
      return at;
    };
    // Initial sync (revision 1) must land everywhere first.
    const first = await waitAll(
      1,
      runtimes.map(() => 0),
      performance.now(),
      30_000,
    );
    if (first.some((a) => a === undefined)) throw new Error("initial sync did not reach every runtime");

    const allMs: number[] = [];
    const each: number[] = [];
    let missed = 0;
    for (let e = 0; e < edits; e++) {
      const revision = e + 2;
      const marks = runtimes.map((r) => r.stderr.length);
      const t0 = performance.now();
      appendFileSync(join(ws, "prompts", "base-system.md"), `\nBench edit ${e}.\n`);
      const at = await waitAll(revision, marks, t0, 15_000);
      if (at.some((a) => a === undefined)) {
        missed++;
        log(`  fan-out ${n}: edit ${e} did not reach every runtime within 15 s`);
        break;
      }
      const times = at as number[];
      allMs.push(Math.max(...times));
      each.push(...times);
      await Bun.sleep(150); // let the debounce window close before the next edit
    }
    const sorted = [...allMs].sort((a, b) => a - b);
    const eachSorted = each.sort((a, b) => a - b);
    return {
      runtimes: n,
      edits: allMs.length,
      allMs,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      eachP50: quantile(eachSorted, 0.5),
      eachP99: quantile(eachSorted, 0.99),
      missed,
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop().catch(() => s.kill().catch(() => {}))));
  }
}
