/**
 * Shared HTTP pieces for both modes: the error envelope, bearer auth, body limits and
 * media type, JSON body reading, and 404/405 in the envelope.
 */
import { timingSafeEqual } from "node:crypto";
import { Elysia, ValidationError } from "elysia";
import { type Logger, silentLogger } from "../log.ts";
import { BundlesyncError, type ErrorBody } from "./errors.ts";

export const JSON_HEADERS = { "content-type": "application/json" } as const;

export function errorResponse(err: BundlesyncError, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(err.toBody()), { status: err.status, headers: { ...JSON_HEADERS, ...headers } });
}

function sha256(s: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher("sha256").update(s).digest());
}

/**
 * A constant-time bearer check for one token: both sides hashed to a fixed length first,
 * the token's side once, when the server is set up.
 */
export function bearerCheck(token: string): (header: string | null) => boolean {
  const expected = sha256(token);
  return (header) => header?.startsWith("Bearer ") === true && timingSafeEqual(sha256(header.slice(7)), expected);
}

export interface Route {
  pattern: RegExp;
  methods: string[];
}

export interface HttpOptions {
  /** Paths under these prefixes need the bearer token, when one is set. */
  protectedPrefixes: string[];
  token?: string;
  maxBodyBytes: number;
  /** Route table used to tell 405 from 404. */
  routes: Route[];
  logger?: Logger;
}

/** The path of an absolute request URL, without parsing the whole URL (this runs on every request). */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const end = url.indexOf("?", start);
  return end === -1 ? url.slice(start) : url.slice(start, end);
}

function hasBody(request: Request): boolean {
  const len = request.headers.get("content-length");
  if (len !== null) return Number(len) > 0;
  return request.headers.has("transfer-encoding") || request.body !== null;
}

function isJson(contentType: string | null): boolean {
  if (!contentType) return false;
  const media = contentType.split(";")[0]!.trim().toLowerCase();
  return media === "application/json" || (media.startsWith("application/") && media.endsWith("+json"));
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A JSON body as received: the parsed value, and the text and bytes it came from. */
export interface JsonBody {
  value: unknown;
  text: string;
  bytes: Uint8Array;
}

/** Reads a body with a hard byte limit (chunked bodies included). Undefined when empty. */
async function readBytes(request: Request, limit: number): Promise<Uint8Array | undefined> {
  if (!request.body) return undefined;
  if (request.headers.has("content-length")) {
    // The declared length was checked against the limit before routing; read it natively.
    const bytes = new Uint8Array(await request.arrayBuffer());
    if (bytes.byteLength > limit) throw new BundlesyncError("payload_too_large", { limit });
    return bytes.byteLength === 0 ? undefined : bytes;
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BundlesyncError("payload_too_large", { limit });
    }
    chunks.push(value);
  }
  if (size === 0) return undefined;
  return chunks.length === 1 ? chunks[0] : new Uint8Array(Buffer.concat(chunks));
}

/** Reads and parses a JSON body, keeping what was received. Undefined when empty. */
export async function readJsonBody(request: Request, limit: number): Promise<JsonBody | undefined> {
  const bytes = await readBytes(request, limit);
  if (bytes === undefined) return undefined;
  try {
    // Strict UTF-8 (no replacement characters, no BOM): the text is then exactly the bytes,
    // so a body whose text is canonical can be stored as received.
    const text = STRICT_UTF8.decode(bytes);
    return { value: JSON.parse(text), text, bytes };
  } catch {
    throw new BundlesyncError("invalid_json", {});
  }
}

export async function readJson(request: Request, limit: number): Promise<unknown> {
  return (await readJsonBody(request, limit))?.value;
}

function validationDetails(error: ValidationError) {
  return {
    errors: error.all.slice(0, 20).map((e) => ({
      path: "path" in e && e.path ? e.path : "/",
      message: "message" in e && typeof e.message === "string" ? e.message : "invalid",
    })),
  };
}

/**
 * Error envelope, auth and body guards as one plugin. Every failure leaves as
 * `{error: {code, message, details}}` with the contract's status.
 */
export function httpBase(opts: HttpOptions) {
  const log = opts.logger ?? silentLogger;
  const authorized = opts.token === undefined ? undefined : bearerCheck(opts.token);
  return new Elysia({ name: "bundlesync-http-base" })
    .onRequest(({ request }) => {
      if (authorized && opts.protectedPrefixes.some((p) => pathOf(request.url).startsWith(p))) {
        if (!authorized(request.headers.get("authorization"))) return unauthorized();
      }
      // Reads carry no body; skipping the body checks keeps the GET path lean.
      if (request.method !== "GET" && request.method !== "HEAD" && hasBody(request)) {
        const len = Number(request.headers.get("content-length") ?? 0);
        if (len > opts.maxBodyBytes)
          return errorResponse(new BundlesyncError("payload_too_large", { limit: opts.maxBodyBytes }));
        if (!isJson(request.headers.get("content-type")))
          return errorResponse(new BundlesyncError("unsupported_media_type"));
      }
    })
    .onError({ as: "global" }, ({ code, error, request }) => {
      if (error instanceof BundlesyncError) return errorResponse(error);
      if (code === "VALIDATION" && error instanceof ValidationError) {
        return errorResponse(new BundlesyncError("invalid_request", validationDetails(error)));
      }
      if (code === "PARSE") return errorResponse(new BundlesyncError("invalid_json"));
      if (code === "NOT_FOUND") {
        const path = pathOf(request.url);
        const route = opts.routes.find((r) => r.pattern.test(path));
        if (route && !route.methods.includes(request.method)) {
          return errorResponse(new BundlesyncError("method_not_allowed"), { allow: route.methods.join(", ") });
        }
        return errorResponse(new BundlesyncError("not_found"));
      }
      return internalError(error, log);
    });
}

export function unauthorized(): Response {
  return errorResponse(new BundlesyncError("unauthorized"), { "www-authenticate": "Bearer" });
}

/** An unexpected failure: logged with a request id, answered with that id only. */
export function internalError(error: unknown, log: Logger): Response {
  const requestId = crypto.randomUUID();
  log.error("internal_error", { requestId, kind: error instanceof Error ? error.name : typeof error });
  return errorResponse(new BundlesyncError("internal", { requestId }));
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

export type { ErrorBody };
