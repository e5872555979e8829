import { describe, expect, test } from "bun:test";
import { buildWorkspace } from "../../src/bundle/build.ts";
import { verifyBundle } from "../../src/bundle/validate.ts";

describe("example workspace", () => {
  test("builds into a bundle that passes store-time validation", () => {
    const { bundle, digest } = buildWorkspace("examples/workspace");
    expect(verifyBundle(structuredClone(bundle)).digest).toBe(digest);
    expect(bundle.content.profiles.map((p) => p.name)).toEqual(["base", "coder", "researcher", "reviewer"]);
  });
});
