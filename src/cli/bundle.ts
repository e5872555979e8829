/** The offline subcommands: `bundle build DIR` and `bundle digest FILE`. */
import { readFileSync } from "node:fs";
import { buildWorkspace, SourceError } from "../bundle/build.ts";
import { bundleDigest } from "../bundle/digest.ts";
import { ConfigError } from "../config/load.ts";

function readInput(file: string): string {
  try {
    return file === "-" ? readFileSync(0, "utf8") : readFileSync(file, "utf8");
  } catch {
    throw new ConfigError(`bundle digest: cannot read ${file === "-" ? "stdin" : "the file"}`);
  }
}

export async function runBundleCommand(command: "build" | "digest", arg: string): Promise<number> {
  if (command === "digest") {
    let doc: unknown;
    try {
      doc = JSON.parse(readInput(arg));
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError("bundle digest: not valid JSON");
    }
    const d = doc as { schemaVersion?: unknown; metadata?: { id?: unknown; workspaceId?: unknown }; content?: unknown };
    if (
      typeof d?.schemaVersion !== "number" ||
      typeof d.metadata?.id !== "string" ||
      typeof d.metadata.workspaceId !== "string" ||
      d.content === undefined
    ) {
      throw new ConfigError("bundle digest: needs schemaVersion, metadata.id, metadata.workspaceId and content");
    }
    process.stdout.write(`${bundleDigest(d as Parameters<typeof bundleDigest>[0])}\n`);
    return 0;
  }
  try {
    const { bundle } = buildWorkspace(arg);
    process.stdout.write(`${JSON.stringify(bundle, null, 2)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof SourceError || e instanceof ConfigError) {
      process.stderr.write(`bundlesync: bundle build: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
