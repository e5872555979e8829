/** Listening, the `listening` line, and graceful shutdown, shared by both modes. */
import type { Elysia } from "elysia";
import type { Listen } from "../cli/args.ts";

export interface Served {
  url: string;
  port: number;
  /** Stop accepting, finish in-flight requests. */
  stop(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: any Elysia app, whatever its route types
export function listen(app: Elysia<any, any, any, any, any, any, any>, where: Listen, maxBodyBytes: number): Served {
  // Elysia turns SO_REUSEPORT on by default; a second process on a busy port must fail, not share it.
  app.listen({
    hostname: where.host,
    port: where.port,
    reusePort: false,
    // Elysia turns Bun's development mode on unless NODE_ENV=production; a server never wants it.
    development: false,
    maxRequestBodySize: maxBodyBytes + 64 * 1024,
  });
  const server = app.server;
  if (!server) throw new Error("server did not start");
  const host = where.host.includes(":") ? `[${where.host}]` : where.host;
  return {
    url: `http://${host}:${server.port}`,
    port: server.port ?? where.port,
    stop: async () => {
      await server.stop(false);
    },
  };
}

export function printListening(mode: string, url: string): void {
  process.stdout.write(`${JSON.stringify({ event: "listening", mode, url })}\n`);
}

/** SIGTERM/SIGINT: run `shutdown` once, then exit 0. */
export function onSignals(shutdown: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    shutdown()
      .catch(() => {})
      .finally(() => process.exit(0));
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}
