/** Entry: parse flags, pick the mode, start it. */
import { HELP, parseCommandLine, UsageError } from "./cli/args.ts";
import { runBundleCommand } from "./cli/bundle.ts";
import { ConfigError } from "./config/load.ts";
import { onSignals, printListening } from "./http/server.ts";
import { jsonLogger } from "./log.ts";
import { startRuntime } from "./runtime/serve.ts";
import { VERSION } from "./version.ts";

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv);
  switch (parsed.kind) {
    case "help":
      process.stdout.write(HELP);
      return 0;
    case "version":
      process.stdout.write(`bundlesync ${VERSION}\n`);
      return 0;
    case "bundle":
      return runBundleCommand(parsed.command, parsed.arg);
    case "server": {
      const { args } = parsed;
      const log = jsonLogger({ mode: args.mode });
      if (args.mode === "runtime") {
        const running = startRuntime(args, log);
        printListening("runtime", running.url);
        onSignals(async () => {
          log.info("shutting_down");
          await running.close();
        });
      } else {
        const { startBackend } = await import("./backend/serve.ts");
        const running = await startBackend(args, log);
        printListening("backend", running.url);
        onSignals(async () => {
          log.info("shutting_down");
          await running.close();
        });
      }
      return -1; // keep running
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`bundlesync: ${err.message}\n`);
      process.exit(2);
    }
    const code = (err as { code?: string })?.code;
    if (code === "EADDRINUSE" || code === "EACCES") {
      process.stderr.write(`bundlesync: --listen: cannot listen on that address (${code})\n`);
      process.exit(2);
    }
    process.stderr.write(`bundlesync: failed to start: ${err instanceof Error ? err.name : "error"}\n`);
    process.exit(1);
  },
);
