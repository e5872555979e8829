import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import fc from "fast-check";
import {
  bundleDigest,
  CanonicalizeError,
  canonicalBundle,
  canonicalJson,
  promptDigest,
} from "../../src/bundle/digest.ts";

/** The oracle: the `canonicalize` package (RFC 8785 reference behaviour). */
function oracle(value: unknown): string {
  const out = canonicalize(value);
  if (out === undefined) throw new Error("oracle returned undefined");
  return out;
}

/** RFC 8785's 333333333.33333329, which has more digits than a double holds; parsed as JSON text would be. */
const RFC_ONE_THIRD: number = JSON.parse("333333333.33333329");

function sha256Hex(text: string): string {
  return createHash("sha256").update(Buffer.from(text, "utf8")).digest("hex");
}

/** The contract's digest rule, computed without any project code. */
function expectedDigest(b: { schemaVersion: number; metadata: { id: string; workspaceId: string }; content: unknown }) {
  const x = {
    schemaVersion: b.schemaVersion,
    id: b.metadata.id,
    workspaceId: b.metadata.workspaceId,
    content: b.content,
  };
  return `sha256:${sha256Hex(oracle(x))}`;
}

function sampleBundle() {
  return {
    schemaVersion: 1,
    metadata: {
      id: "acme.default",
      workspaceId: "acme",
      revision: 7,
      createdAt: "2026-11-24T10:00:00Z",
      provenance: { source: "workspace-dir", detail: "git:3f2c1aa" },
      digest: `sha256:${"0".repeat(64)}`,
    },
    content: {
      workspace: {
        id: "acme",
        name: "Acme",
        project: { description: "d", labels: { team: "platform", é: "ü" } as Record<string, string> },
      },
      language: { default: "en", allowed: ["en", "ja"] },
      profiles: [{ name: "coder", model: "default", prompts: ["coder-system"], requires: ["anthropic"] }],
      prompts: [{ name: "coder-system", text: "You are a coder.\n" }],
      models: [
        {
          name: "default",
          provider: "anthropic",
          model: "claude-sonnet",
          credential: "secret:anthropic-api-key",
          options: { temperature: 0.2, topP: 1e-7, budget: 1e21 },
        },
      ],
      declarations: [{ kind: "secret_ref", name: "anthropic", ref: "secret:anthropic-api-key" }],
    },
  };
}

/** Rebuilds every object with its keys inserted in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).reverse()) out[key] = reverseKeys((value as Record<string, unknown>)[key]);
  return out;
}

describe("canonicalJson matches the RFC 8785 oracle", () => {
  const vectors: [string, unknown][] = [
    ["primitives", [null, true, false, 0, "", []]],
    ["ASCII key order", { b: 1, a: 2, c: { z: 1, y: 2 }, A: 3, _: 4, "1": 5 }],
    [
      "RFC 8785 §3.2.3 sorting vector (UTF-16 code units, surrogate pair before U+FB33)",
      {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\ud83d\ude00": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
      },
    ],
    ["keys differing only past a common prefix", { aa: 1, a: 2, ab: 3, "a\u0000": 4, "": 5 }],
    [
      "RFC 8785 §3.2.2.3 number vectors",
      [
        0,
        -0,
        1e21,
        1e20,
        1e-7,
        1e-6,
        0.1 + 0.2,
        333333333.3333333,
        RFC_ONE_THIRD,
        5e-324,
        -5e-324,
        1.7976931348623157e308,
        9007199254740991,
        -9007199254740991,
        9007199254740992,
        295147905179352830000,
        4.5,
        2e-3,
        0.000001,
        123456789012345680000,
        -1.5e-300,
      ],
    ],
    [
      "the RFC 8785 §3.2.2 example object",
      {
        numbers: [RFC_ONE_THIRD, 1e30, 4.5, 2e-3, 0.000000000000000000000000001],
        string: '\u20ac$\u000f\nA\'B"\\\\"/',
        literals: [null, true, false],
      },
    ],
    ["every control character U+0000..U+001F", Array.from({ length: 32 }, (_, i) => String.fromCharCode(i))],
    ["line and paragraph separators and DEL", ["\u2028", "\u2029", "\u007f", "a\u2028b"]],
    ["quotes, backslashes and slashes", ['"', "\\", "/", '\\"', "</script>"]],
    ["non-BMP and combining characters", ["\ud83d\ude00", "e\u0301", "\u{10ffff}", "日本語"]],
    ["nested empty containers", { a: {}, b: [], c: [{}, [[]]], d: { e: { f: {} } } }],
  ];

  for (const [name, value] of vectors) {
    test(`${name}`, () => {
      expect(canonicalJson(value)).toBe(oracle(value));
    });
  }

  test("serialises numbers the ECMAScript way JCS prescribes", () => {
    expect(canonicalJson(1e21)).toBe("1e+21");
    expect(canonicalJson(1e-7)).toBe("1e-7");
    expect(canonicalJson(-0)).toBe("0");
    expect(canonicalJson(RFC_ONE_THIRD)).toBe("333333333.3333333");
    expect(canonicalJson(5e-324)).toBe("5e-324");
    expect(canonicalJson(0.1 + 0.2)).toBe("0.30000000000000004");
  });

  test("sorts keys by UTF-16 code units, not by code points", () => {
    // U+1F600 is encoded as D83D DE00, which sorts before U+FB33 in UTF-16 but after it by code point.
    expect(canonicalJson({ "\ufb33": 1, "\ud83d\ude00": 2 })).toBe('{"\ud83d\ude00":2,"\ufb33":1}');
  });

  test("escapes control characters with lowercase \\u escapes and leaves U+2028 literal", () => {
    expect(canonicalJson("\u0000\u001f\b\t\n\f\r\u2028")).toBe('"\\u0000\\u001f\\b\\t\\n\\f\\r\u2028"');
  });

  test("rejects NaN and infinities instead of writing null", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, { a: [1, Number.NaN] }]) {
      expect(() => canonicalJson(bad)).toThrow(CanonicalizeError);
    }
  });

  test("drops undefined object members and writes undefined array items as null, like the oracle", () => {
    const value = { a: undefined, b: [undefined, 1] };
    expect(canonicalJson(value)).toBe(oracle(value));
  });

  // Units that exercise escaping and UTF-16 ordering, always as whole code points (RFC 8785 input is I-JSON).
  const awkwardChar = fc.constantFrom(
    "a",
    "Z",
    "0",
    "_",
    " ",
    '"',
    "\\",
    "/",
    "\u0000",
    "\u0008",
    "\u001f",
    "\u007f",
    "\u0080",
    "\u00f6",
    "\u20ac",
    "\u2028",
    "\u2029",
    "\ufb33",
    "\uffff",
    "\ud83d\ude00",
    "\u{10ffff}",
  );
  const awkwardString = fc.oneof(
    fc.string({ unit: awkwardChar, maxLength: 8 }),
    fc.string({ unit: "grapheme", maxLength: 8 }),
  );
  const awkwardNumber = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.constantFrom(-0, 1e21, 1e-7, 5e-324, RFC_ONE_THIRD, 0.1 + 0.2, 2 ** 53, -(2 ** 63), 1.7976931348623157e308),
  );
  const { json } = fc.letrec((tie) => ({
    json: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      awkwardNumber,
      awkwardString,
      fc.array(tie("json"), { maxLength: 5 }),
      fc.dictionary(awkwardString, tie("json"), { maxKeys: 6 }),
    ),
  }));

  test("property: byte-identical to the oracle on random JSON with awkward keys, strings and doubles", () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(canonicalJson(value)).toBe(oracle(value));
      }),
      { numRuns: 2000 },
    );
  });

  test("property: byte-identical to the oracle on fc.jsonValue with unicode strings", () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: "grapheme" }), (value) => {
        expect(canonicalJson(value)).toBe(oracle(value));
      }),
      { numRuns: 1000 },
    );
  });

  test("property: canonical output parses back to an equal value and is a fixed point", () => {
    fc.assert(
      fc.property(json, (value) => {
        const once = canonicalJson(value);
        expect(canonicalJson(JSON.parse(once))).toBe(once);
      }),
      { numRuns: 500 },
    );
  });
});

describe("bundle digest", () => {
  test("equals sha256 over the JCS of {schemaVersion, id, workspaceId, content}, computed independently", () => {
    const b = sampleBundle();
    const digest = bundleDigest(b);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(digest).toBe(expectedDigest(b));
    expect(canonicalBundle(b).digest).toBe(digest);
  });

  test("does not depend on the key order of the input", () => {
    const b = sampleBundle();
    const reordered = reverseKeys(b) as ReturnType<typeof sampleBundle>;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(b));
    expect(bundleDigest(reordered)).toBe(bundleDigest(b));
  });

  test("does not change with revision, createdAt, provenance or the claimed digest", () => {
    const b = sampleBundle();
    const base = bundleDigest(b);
    const other = sampleBundle();
    other.metadata.revision = 99;
    other.metadata.createdAt = "2030-01-01T00:00:00Z";
    other.metadata.provenance = { source: "api", detail: "elsewhere" };
    other.metadata.digest = `sha256:${"f".repeat(64)}`;
    expect(bundleDigest(other)).toBe(base);
  });

  const changes: [string, (b: ReturnType<typeof sampleBundle>) => void][] = [
    ["metadata.id", (b) => (b.metadata.id = "acme.other")],
    ["metadata.workspaceId", (b) => (b.metadata.workspaceId = "acme2")],
    ["schemaVersion", (b) => (b.schemaVersion = 2)],
    ["a prompt text", (b) => (b.content.prompts[0]!.text += " ")],
    ["a profile field", (b) => (b.content.profiles[0]!.model = "fast")],
    ["a number's value", (b) => (b.content.models[0]!.options.temperature = 0.3)],
    ["list order", (b) => b.content.language.allowed.reverse()],
    ["a label key", (b) => (b.content.workspace.project.labels = { Team: "platform", é: "ü" })],
  ];
  for (const [what, change] of changes) {
    test(`changes when ${what} changes`, () => {
      const b = sampleBundle();
      const changed = sampleBundle();
      change(changed);
      expect(bundleDigest(changed)).not.toBe(bundleDigest(b));
      expect(bundleDigest(changed)).toBe(expectedDigest(changed));
    });
  }

  test("the canonical bytes are the oracle's JCS of the whole bundle with the digest filled in", () => {
    const b = sampleBundle();
    const { digest, bytes } = canonicalBundle(b);
    expect(bytes).toBe(oracle(b));
    const unsigned = { ...b, metadata: { ...b.metadata, digest: undefined } } as unknown as Parameters<
      typeof canonicalBundle
    >[0];
    expect(canonicalBundle(unsigned).bytes).toBe(oracle({ ...b, metadata: { ...b.metadata, digest } }));
  });
});

describe("prompt digest", () => {
  test("is sha256: + hex sha256 of the UTF-8 text", () => {
    for (const text of ["", "You are a coder.\n", "日本語で答えてください 😀", "a\u0000b\r\n"]) {
      expect(promptDigest(text)).toBe(`sha256:${sha256Hex(text)}`);
    }
  });

  test("differs for texts that differ only in whitespace", () => {
    expect(promptDigest("hello")).not.toBe(promptDigest("hello\n"));
  });
});
