/**
 * Builtin profiles: the runtime-local fallback used when a Worker is created without a
 * bundle, and the possible `builtin:<name>` roots of an `extends` chain. They are written
 * as a small bundle content so that one resolver serves both modes.
 */
import { promptDigest } from "./digest.ts";
import type { Content } from "./model.ts";

const prompt = (name: string, text: string) => ({ name, text, digest: promptDigest(text) });

export const BUILTIN_CONTENT: Content = {
  workspace: { id: "builtin", name: "Builtin profiles" },
  profiles: [
    {
      name: "companion",
      description: "A general assistant with no host access.",
      prompts: ["builtin-companion"],
    },
    {
      name: "coder",
      description: "Edits code in a repository with the host shell and git.",
      prompts: ["builtin-coder"],
      tools: ["shell"],
      requires: ["shell", "git"],
    },
    {
      name: "reviewer",
      description: "Reviews changes; reads only.",
      prompts: ["builtin-reviewer"],
    },
  ],
  prompts: [
    prompt("builtin-companion", "You are a helpful companion. Answer clearly and ask when unsure."),
    prompt("builtin-coder", "You are a careful software engineer. Make small, tested changes."),
    prompt("builtin-reviewer", "You review changes for correctness, clarity and risk."),
  ],
  tools: [{ name: "shell", kind: "builtin", policy: "ask" }],
  declarations: [
    { kind: "shell_policy", name: "shell", ref: "shell:default" },
    { kind: "git_policy", name: "git", ref: "git:default" },
  ],
};

export const BUILTIN_PROFILE_NAMES = BUILTIN_CONTENT.profiles.map((p) => p.name);
