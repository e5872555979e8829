/** Backend mode as a process: config, embedded runtime, workspaces, sync, HTTP. */
import type { ServerArgs } from "../cli/args.ts";
import { listen, type Served } from "../http/server.ts";
import type { Logger } from "../log.ts";
import { loadHostPolicy } from "../runtime/policy.ts";
import { Backend } from "./backend.ts";
import { loadBackendConfig } from "./config.ts";
import { backendApp } from "./http.ts";

export interface RunningBackend extends Served {
  backend: Backend;
  close(): Promise<void>;
}

export async function startBackend(args: ServerArgs, log: Logger): Promise<RunningBackend> {
  const config = loadBackendConfig({
    config: args.config,
    workspaces: args.workspaces,
    embedded: !args.noEmbeddedRuntime,
  });
  const hostPolicy = args.hostPolicy ? loadHostPolicy(args.hostPolicy) : undefined;
  const backend = new Backend({ dataDir: args.data, config, hostPolicy, log });
  const served = listen(backendApp(backend, { token: args.apiToken, logger: log }), args.listen, 1024 * 1024);
  await backend.start();
  return {
    ...served,
    backend,
    close: async () => {
      await served.stop();
      backend.close();
    },
  };
}
