import type { ServerArgs } from "../cli/args.ts";
import { UsageError } from "../cli/args.ts";
import type { Logger } from "../log.ts";

export async function startBackend(_args: ServerArgs, _log: Logger): Promise<{ url: string; close(): Promise<void> }> {
  throw new UsageError("--mode: backend is not available in this build");
}
