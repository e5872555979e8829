import { expect, test } from "bun:test";

test("the executable prints its version", () => {
  const r = Bun.spawnSync(["dist/bundlesync", "--version"]);
  expect(r.exitCode).toBe(0);
  expect(r.stdout.toString()).toMatch(/^bundlesync \d+\.\d+\.\d+/);
});
