/** Runtime mode as a process: policy, store, REST API, background scrub. */
import { type ServerArgs, UsageError } from "../cli/args.ts";
import { listen, type Served } from "../http/server.ts";
import type { Logger } from "../log.ts";
import { runtimeApp } from "./http.ts";
import { loadHostPolicy, normalizePolicy } from "./policy.ts";
import { Runtime } from "./runtime.ts";

/** How often the background scrub takes one page of rows to re-verify. */
const SCRUB_INTERVAL_MS = 2_000;

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

  let cursor = "";
  const scrub = setInterval(() => {
    cursor = runtime.scrub(cursor, 100);
  }, SCRUB_INTERVAL_MS);
  scrub.unref();

  return {
    ...served,
    runtime,
    close: async () => {
      clearInterval(scrub);
      await served.stop();
      runtime.close();
    },
  };
}
