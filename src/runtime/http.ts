/**
 * Runtime REST API (contract §4): a thin Elysia adapter over `Runtime`. Bodies are read
 * here (limit, media type, JSON) and handed to `Runtime` as plain values; the Runtime does
 * all validation, so the embedded and the REST path give the same results.
 */
import { openapi } from "@elysiajs/openapi";
import type { TSchema } from "@sinclair/typebox";
import { Elysia, t } from "elysia";
import {
  AvailabilityRequest,
  AvailabilityResult,
  Bundle,
  BundleSummary,
  CreateWorkerRequest,
  Worker,
} from "../bundle/model.ts";
import {
  bearerCheck,
  errorResponse,
  httpBase,
  internalError,
  json,
  type Route,
  readJson,
  readJsonBody,
  unauthorized,
} from "../http/common.ts";
import { BundlesyncError } from "../http/errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import { VERSION } from "../version.ts";
import type { Runtime } from "./runtime.ts";

type OpenAPISchema = Record<string, never>;

export interface RuntimeHttpOptions {
  token?: string;
  logger?: Logger;
}

const ROUTES: Route[] = [
  { pattern: /^\/healthz$/, methods: ["GET"] },
  { pattern: /^\/v1\/runtime$/, methods: ["GET"] },
  { pattern: /^\/v1\/config-bundles$/, methods: ["GET"] },
  { pattern: /^\/v1\/config-bundles\/availability$/, methods: ["POST"] },
  { pattern: /^\/v1\/config-bundles\/[^/]+$/, methods: ["GET", "HEAD", "PUT", "DELETE"] },
  { pattern: /^\/v1\/workers$/, methods: ["GET", "POST"] },
  { pattern: /^\/v1\/workers\/[^/]+$/, methods: ["GET"] },
  { pattern: /^\/v1\/workers\/[^/]+\/stop$/, methods: ["POST"] },
];

// Path and query values are checked by `Runtime` itself, so the REST and embedded paths agree.
const DigestParams = t.Object({ digest: t.String() });
const IdParams = t.Object({ id: t.String() });
const ErrorEnvelope = t.Object({
  error: t.Object({ code: t.String(), message: t.String(), details: t.Record(t.String(), t.Unknown()) }),
});
const SummaryBody = t.Object({ bundle: BundleSummary });
const WorkerBody = t.Object({ worker: Worker });

/** Bodies are validated by `Runtime`; the same TypeBox schema documents them here. */
const jsonBody = (schema: TSchema, description: string) => ({
  requestBody: {
    required: true,
    description,
    content: { "application/json": { schema: schema as unknown as OpenAPISchema } },
  },
});

const AVAILABILITY = "/v1/config-bundles/availability";
const availabilityOnlyPost = () => errorResponse(new BundlesyncError("method_not_allowed"), { allow: "POST" });

/** `If-None-Match` per RFC 9110: `*`, or a list of (weak or strong) entity tags. */
function etagMatches(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

function readBundle(runtime: Runtime, digest: string, request: Request): Response {
  const etag = `"${digest}"`;
  if (etagMatches(request.headers.get("if-none-match"), etag)) {
    // The ETag is the content digest: a stored, verified row is all a 304 needs.
    if (!runtime.hasBundle(digest)) throw new BundlesyncError("config_bundle_missing", {});
    return new Response(null, { status: 304, headers: { etag } });
  }
  const bytes = runtime.getBundleBytes(digest);
  return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/json", etag } });
}

function headBundle(runtime: Runtime, digest: string): Response {
  if (!runtime.hasBundle(digest)) return new Response(null, { status: 404 });
  return new Response(null, { status: 200, headers: { etag: `"${digest}"` } });
}

/**
 * The hot read path as native Bun routes in front of Elysia: the same auth check, the same
 * handlers and the same error envelope as the Elysia routes (which `app.handle` uses),
 * without the framework's per-request work. Bun prefers static paths such as
 * /v1/config-bundles/availability over this parametric one.
 */
function nativeReadRoutes(runtime: Runtime, opts: RuntimeHttpOptions) {
  const log = opts.logger ?? silentLogger;
  const authorized = opts.token === undefined ? undefined : bearerCheck(opts.token);
  const guarded =
    (handler: (digest: string, request: Request) => Response) =>
    (request: Request & { params: Record<string, string> }): Response => {
      if (authorized && !authorized(request.headers.get("authorization"))) {
        return unauthorized();
      }
      try {
        const raw = request.params.digest ?? "";
        return handler(raw.includes("%") ? decodeURIComponent(raw) : raw, request);
      } catch (e) {
        return e instanceof BundlesyncError ? errorResponse(e) : internalError(e, log);
      }
    };
  return {
    "/v1/config-bundles/:digest": {
      GET: guarded((digest, request) => readBundle(runtime, digest, request)),
      HEAD: guarded((digest) => headBundle(runtime, digest)),
    },
  };
}

export function runtimeApp(runtime: Runtime, opts: RuntimeHttpOptions = {}) {
  const limit = runtime.policy.limits.maxBundleBytes;
  return (
    new Elysia({ serve: { routes: nativeReadRoutes(runtime, opts) } })
      .use(
        httpBase({
          protectedPrefixes: ["/v1/", "/openapi"],
          token: opts.token,
          maxBodyBytes: limit,
          routes: ROUTES,
          logger: opts.logger,
        }),
      )
      .use(
        openapi({
          path: "/openapi",
          specPath: "/openapi.json",
          provider: null,
          documentation: { info: { title: "bundlesync runtime API", version: VERSION } },
          exclude: { paths: ["/openapi", "/openapi.json"] },
        }),
      )
      .get("/healthz", () => ({ status: "ok" as const }), { response: t.Object({ status: t.Literal("ok") }) })
      .get("/v1/runtime", () => ({ runtime: runtime.info() }), {
        detail: { summary: "Runtime id, version, counts and host policy names" },
      })
      .put(
        "/v1/config-bundles/:digest",
        async ({ params, request, set }) => {
          const body = await readJsonBody(request, limit);
          const result = runtime.putBundle(params.digest, body?.value, body);
          set.status = result.created ? 201 : 200;
          return { bundle: result.bundle };
        },
        {
          params: DigestParams,
          parse: "none",
          response: { 200: SummaryBody, 201: SummaryBody, 400: ErrorEnvelope, 409: ErrorEnvelope, 422: ErrorEnvelope },
          detail: { summary: "Store a verified config bundle", ...jsonBody(Bundle, "The config bundle") },
        },
      )
      .get("/v1/config-bundles/:digest", ({ params, request }) => readBundle(runtime, params.digest, request), {
        params: DigestParams,
        detail: { summary: "The full stored bundle (canonical JSON)" },
      })
      .head("/v1/config-bundles/:digest", ({ params }) => headBundle(runtime, params.digest), { params: DigestParams })
      .get("/v1/config-bundles", ({ query }) => ({ bundles: runtime.listBundles(query) }), {
        query: t.Object({
          workspaceId: t.Optional(t.String()),
          id: t.Optional(t.String()),
          limit: t.Optional(t.Integer({ minimum: 1, maximum: 10000 })),
        }),
        response: t.Object({ bundles: t.Array(BundleSummary) }),
        detail: { summary: "Stored bundles, newest revision first" },
      })
      .post(
        "/v1/config-bundles/availability",
        async ({ request }) => ({ results: runtime.availability(await readJson(request, limit)) }),
        {
          parse: "none",
          response: t.Object({ results: t.Array(AvailabilityResult) }),
          detail: { summary: "Which bundle refs this runtime holds", ...jsonBody(AvailabilityRequest, "refs") },
        },
      )
      // "availability" is a sibling route, not a digest: other methods on it are 405, not 400.
      .get(AVAILABILITY, availabilityOnlyPost)
      .put(AVAILABILITY, availabilityOnlyPost)
      .delete(AVAILABILITY, availabilityOnlyPost)
      .delete("/v1/config-bundles/:digest", ({ params }) => ({ bundle: runtime.deleteBundle(params.digest) }), {
        params: DigestParams,
        response: SummaryBody,
      })
      .post(
        "/v1/workers",
        async ({ request }) => {
          const result = runtime.createWorker(await readJson(request, limit));
          return json({ worker: result.worker }, result.created ? 201 : 200);
        },
        { parse: "none", detail: { summary: "Create a Worker", ...jsonBody(CreateWorkerRequest, "Worker request") } },
      )
      .get("/v1/workers", () => ({ workers: runtime.listWorkers() }), {
        response: t.Object({ workers: t.Array(Worker) }),
      })
      .get("/v1/workers/:id", ({ params }) => ({ worker: runtime.getWorker(params.id) }), {
        params: IdParams,
        response: WorkerBody,
      })
      .post("/v1/workers/:id/stop", ({ params }) => ({ worker: runtime.stopWorker(params.id) }), {
        params: IdParams,
        parse: "none",
        response: WorkerBody,
      })
  );
}

export type RuntimeApp = ReturnType<typeof runtimeApp>;
