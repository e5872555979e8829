/**
 * Forbidden-content rules of contract §3. Each returns the name of the rule a string
 * breaks, or undefined. Callers report the rule and a JSON Pointer, never the string.
 */

/**
 * Cheap passes decide whether a string could hold credential material at all. Split in
 * four (literals, then one pattern per leading letter) because one regex alternating over
 * all of them scans prompt text at about half the speed (bench/REPORT.md, benchmark 3).
 */
const HINT_LITERALS = /-----BEGIN|sk-|eyJ|:\/\/|github_pat_/;
const HINT_GITHUB = /gh[pousr]_/;
const HINT_SLACK = /xox[abposr]-/;
const HINT_AWS = /A[KSGIRNP][A-Z]{2}[A-Z0-9]{16}/;
const credentialHint = (s: string) =>
  HINT_LITERALS.test(s) || HINT_GITHUB.test(s) || HINT_SLACK.test(s) || HINT_AWS.test(s);

const CREDENTIAL_RULES: [string, RegExp][] = [
  ["pem_private_key", /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/],
  ["aws_access_key_id", /(?:^|[^A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])/],
  ["github_token", /(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})/],
  ["slack_token", /xox[abposr]-[A-Za-z0-9-]{10,}/],
  ["anthropic_key", /sk-ant-[A-Za-z0-9_-]{20,}/],
  ["openai_key", /(?:^|[^A-Za-z0-9])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/],
  ["jwt", /eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}/],
  ["url_credentials", /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/@:]+:[^\s/@]*@/],
];

export function credentialRule(s: string): string | undefined {
  if (!credentialHint(s)) return undefined;
  for (const [rule, re] of CREDENTIAL_RULES) if (re.test(s)) return rule;
  return undefined;
}

const ABSOLUTE = /^(?:\/|\\\\|[A-Za-z]:[\\/]|~)/;
const FILE_URL = /^file:/i;
/** `prefix:/path`, `prefix:~` or `prefix:C:\` (but not `scheme://`). */
const PREFIXED_PATH = /^[A-Za-z][A-Za-z0-9+.-]*:(?:(?!\/\/)[/\\~]|[A-Za-z]:[\\/])/;
const SEPARATOR = /[\\/]/;
/** Socket and session file names are host-local even without a directory in front. */
const SOCKET_NAME = /\.(?:sock|socket|session)$/i;
const LOCAL_SEGMENT = /^(?:\.?(?:caches?|sessions?|sock|sockets?|run)|[^/\\]*\.(?:sock|socket|session|pid))$/i;
const SECRET_ASSIGNMENT = /(?:^|[\s;&,?])[A-Za-z_][A-Za-z0-9_.-]*\s*=\s*[^\s=]/;

/** Rules for structured strings (everything but prompt text and descriptions). */
export function structuredRule(s: string): string | undefined {
  if (ABSOLUTE.test(s) || FILE_URL.test(s) || PREFIXED_PATH.test(s)) return "host_path";
  if (SEPARATOR.test(s)) {
    const segments = s.split(SEPARATOR);
    if (segments.includes("..")) return "host_path";
    for (const seg of segments) if (LOCAL_SEGMENT.test(seg)) return "host_local_name";
  } else if (s === "..") {
    return "host_path";
  }
  if (SOCKET_NAME.test(s)) return "host_local_name";
  if (SECRET_ASSIGNMENT.test(s)) return "secret_assignment";
  return undefined;
}

export const REF_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]*$/;

/** Declaration kind -> the ref prefix it must carry. */
export const DECLARATION_PREFIX: Record<string, string> = {
  secret_ref: "secret",
  mount_grant: "mount",
  network_policy: "network",
  shell_policy: "shell",
  git_policy: "git",
  capability_grant: "capability",
  plugin_grant: "plugin",
};

export const KNOWN_PREFIXES = new Set(Object.values(DECLARATION_PREFIX));

export interface ParsedRef {
  prefix: string;
  name: string;
}

export function parseRef(ref: string): ParsedRef | undefined {
  const colon = ref.indexOf(":");
  if (colon <= 0) return undefined;
  const prefix = ref.slice(0, colon);
  const name = ref.slice(colon + 1);
  if (!/^[a-z]+$/.test(prefix) || !REF_NAME.test(name)) return undefined;
  return { prefix, name };
}

/** `ref_format` when not `<prefix>:<name>`, `ref_prefix` when the prefix is not one allowed here. */
export function refRule(ref: string, allowed: string | Set<string>): string | undefined {
  const parsed = parseRef(ref);
  if (!parsed) return "ref_format";
  const ok = typeof allowed === "string" ? parsed.prefix === allowed : allowed.has(parsed.prefix);
  return ok ? undefined : "ref_prefix";
}
