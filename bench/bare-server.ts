/** A bare compiled Bun.serve program: the floor for cold start (benchmark 7). */
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
process.stdout.write(
  `${JSON.stringify({ event: "listening", mode: "bare", url: `http://127.0.0.1:${server.port}` })}\n`,
);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
