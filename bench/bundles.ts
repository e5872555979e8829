/**
 * Bench bundles: realistic valid bundles of a target size, and a factory of unique bodies
 * (a nonce in the workspace description) whose digests the client computes cheaply: the
 * nonce sits near the end of the canonical form, so the hash of everything before it is
 * computed once and copied.
 */
import { canonicalJson, digestInput, promptDigest, sha256Digest } from "../src/bundle/digest.ts";
import type { Bundle, Content } from "../src/bundle/model.ts";

const WORDS =
  "review the change carefully and explain every finding with the file and the line it concerns then suggest a fix keep answers short precise and kind when unsure ask a question first".split(
    " ",
  );

function prose(chars: number, seed: number): string {
  let out = "";
  let i = seed;
  while (out.length < chars) {
    out += `${WORDS[i % WORDS.length]}${i % 17 === 0 ? ".\n" : " "}`;
    i = (i * 31 + 7) % 9973;
  }
  return out.slice(0, chars);
}

const NONCE_LEN = 16;
const NONCE_MARK = "N".repeat(NONCE_LEN);

/** Content of roughly `targetBytes` canonical bytes: prompts carry most of it, profiles use them. */
function sizedContent(targetBytes: number, workspaceId: string, description: string): Content {
  const promptChars = Math.max(200, Math.min(4096, Math.floor(targetBytes / 8)));
  const perPrompt = promptChars + 140;
  const nPrompts = Math.max(1, Math.round((targetBytes - 1500) / (perPrompt + 40)));
  const prompts = Array.from({ length: nPrompts }, (_, i) => {
    const text = prose(promptChars, i + 1);
    return { name: `prompt-${i}`, text, digest: promptDigest(text) };
  });
  const nProfiles = Math.max(2, Math.ceil(nPrompts / 8));
  const profiles = Array.from({ length: nProfiles }, (_, i) => ({
    name: `profile-${i}`,
    description: `Profile ${i} for the bench workspace.`,
    extends: i === 0 ? "builtin:companion" : `profile-${Math.floor((i - 1) / 2)}`,
    prompts: prompts.slice((i * 8) % nPrompts, ((i * 8) % nPrompts) + 8).map((p) => p.name),
    tools: ["shell"],
    language: "en",
  }));
  return {
    workspace: { id: workspaceId, name: "Bench workspace", project: { description, labels: { team: "bench" } } },
    language: { default: "en", allowed: ["en", "ja"] },
    profiles,
    prompts,
    tools: [{ name: "shell", kind: "builtin", policy: "ask" }],
    workflows: [
      { name: "review-loop", description: "Review then fix.", steps: [{ name: "review", profile: "profile-0" }] },
    ],
  };
}

export function sizedBundle(targetBytes: number, nonce: string, workspaceId = "bench"): Bundle {
  const content = sizedContent(targetBytes, workspaceId, `bench nonce ${nonce}`);
  const bundle: Bundle = {
    schemaVersion: 1,
    metadata: {
      id: `${workspaceId}.default`,
      workspaceId,
      revision: 1,
      createdAt: "2026-11-24T10:00:00Z",
      provenance: { source: "bench" },
      digest: "",
    },
    content,
  };
  bundle.metadata.digest = sha256Digest(digestInput(1, bundle.metadata.id, workspaceId, canonicalJson(content)));
  return bundle;
}

export interface UniqueBody {
  digest: string;
  /** Canonical JSON of the whole bundle. */
  body: string;
  /** sha256 hex of the body bytes (the OCI blob digest). */
  blobHex: string;
}

/**
 * Unique bodies of one size. `make(i)` costs one hash of the short tail, not of the whole
 * document: the client must not be the bottleneck of an upload benchmark.
 */
export function uniqueBodies(targetBytes: number, workspaceId = "bench") {
  const content = sizedContent(targetBytes, workspaceId, `bench nonce ${NONCE_MARK}`);
  const c = canonicalJson(content);
  const id = `${workspaceId}.default`;
  const input = digestInput(1, id, workspaceId, c);
  const at = input.indexOf(NONCE_MARK);
  const inputHead = new Bun.CryptoHasher("sha256").update(input.slice(0, at));
  const inputTail = input.slice(at + NONCE_LEN);
  const cAt = c.indexOf(NONCE_MARK);
  const bodyHead = `{"content":${c.slice(0, cAt)}`;
  const cTail = c.slice(cAt + NONCE_LEN);
  const blobHead = new Bun.CryptoHasher("sha256").update(bodyHead);
  const meta = (digest: string) =>
    canonicalJson({
      createdAt: "2026-11-24T10:00:00Z",
      digest,
      id,
      provenance: { source: "bench" },
      revision: 1,
      workspaceId,
    });
  const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  return {
    sizeBytes: bodyHead.length + NONCE_LEN + cTail.length + 200,
    make(i: number): UniqueBody {
      const nonce = `${tag}${i.toString(36)}`.padStart(NONCE_LEN, "0").slice(-NONCE_LEN);
      const digest = `sha256:${inputHead.copy().update(nonce).update(inputTail).digest("hex")}`;
      const rest = `${nonce}${cTail},"metadata":${meta(digest)},"schemaVersion":1}`;
      const blobHex = blobHead.copy().update(rest).digest("hex");
      return { digest, body: bodyHead + rest, blobHex };
    },
  };
}

/** A small (1–4 KiB) valid bundle with its own id, for store-growth benchmarks. */
export function smallBundle(i: number, workspaceId = "bench"): { digest: string; body: string; id: string } {
  const size = 1024 + ((i * 7919) % 3072);
  const b = sizedBundle(size, `s${i}`, workspaceId);
  b.metadata.id = `${workspaceId}.b${i}`;
  b.metadata.digest = sha256Digest(digestInput(1, b.metadata.id, workspaceId, canonicalJson(b.content)));
  return { digest: b.metadata.digest, body: canonicalJson(b), id: b.metadata.id };
}
