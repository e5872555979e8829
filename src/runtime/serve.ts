/** Runtime mode as a process: policy, store, REST API, background scrub. */
import { type ServerArgs, UsageError } from "../cli/args.ts";
import { listen, type Served } from "../http/server.ts";
import type { Logger } from "../log.ts";
import { runtimeApp } from "./http.ts";
import { loadHostPolicy, normalizePolicy } from "./policy.ts";
import { Runtime } from "./runtime.ts";

/**
 * Background scrub: re-verifies every stored row, a small page at a time so requests are
 * never held up, then rests before the next full pass.
 */
const SCRUB_PAGE_ROWS = 25;
const SCRUB_PAGE_INTERVAL_MS = 1_000;
const SCRUB_PASS_GAP_MS = 15 * 60_000;

export interface RunningRuntime extends Served {
  runtime: Runtime;
  close(): Promise<void>;
}

export function startRuntime(args: ServerArgs, log: Logger): RunningRuntime {
  const policy = args.hostPolicy ? loadHostPolicy(args.hostPolicy) : normalizePolicy({});
  let runtime: Runtime;
  try {
    runtime = new Runtime({ dataDir: args.data, policy, logger: log });
  } catch {
    // An unusable --data is an operator error (exit 2), not a crash; the path is not echoed.
    throw new UsageError("--data: cannot open the runtime store in that directory");
  }
  const app = runtimeApp(runtime, { token: args.token, logger: log });
  const served = listen(app, args.listen, policy.limits.maxBundleBytes);

  let scrub: ReturnType<typeof setTimeout>;
  const scrubPage = (cursor: string) => {
    const next = runtime.scrub(cursor, SCRUB_PAGE_ROWS);
    scrub = setTimeout(scrubPage, next === "" ? SCRUB_PASS_GAP_MS : SCRUB_PAGE_INTERVAL_MS, next);
    scrub.unref();
  };
  scrub = setTimeout(scrubPage, SCRUB_PAGE_INTERVAL_MS, "");
  scrub.unref();

  return {
    ...served,
    runtime,
    close: async () => {
      clearTimeout(scrub);
      await served.stop();
      runtime.close();
    },
  };
}
