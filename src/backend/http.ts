/**
 * Backend HTTP: the browser API (/api/v1), the operator API (/admin/v1) and the console.
 * A thin Elysia adapter over `Backend`; every error leaves in the one envelope.
 */
import { Elysia, t } from "elysia";
import { httpBase, json, type Route, readJson } from "../http/common.ts";
import type { Logger } from "../log.ts";
import { type Backend, browserError } from "./backend.ts";
import { CONSOLE_HTML } from "./console.ts";

export interface BackendHttpOptions {
  token?: string;
  logger?: Logger;
}

const BODY_LIMIT = 1024 * 1024;

const ROUTES: Route[] = [
  { pattern: /^\/$/, methods: ["GET"] },
  { pattern: /^\/healthz$/, methods: ["GET"] },
  { pattern: /^\/api\/v1\/workspaces$/, methods: ["GET"] },
  { pattern: /^\/api\/v1\/workspaces\/[^/]+$/, methods: ["GET"] },
  { pattern: /^\/api\/v1\/workspaces\/[^/]+\/workers$/, methods: ["POST"] },
  { pattern: /^\/api\/v1\/workspaces\/[^/]+\/resync$/, methods: ["POST"] },
  { pattern: /^\/api\/v1\/runtimes$/, methods: ["GET"] },
  { pattern: /^\/api\/v1\/workers$/, methods: ["GET"] },
  { pattern: /^\/admin\/v1\/runtimes$/, methods: ["GET", "POST"] },
  { pattern: /^\/admin\/v1\/runtimes\/[^/]+$/, methods: ["DELETE"] },
];

const IdParams = t.Object({ id: t.String({ maxLength: 128 }) });

const SourceState = t.Object({
  state: t.Union([t.Literal("ok"), t.Literal("error")]),
  error: t.Optional(t.Object({ code: t.String(), message: t.String() })),
});
const WorkspaceSummary = t.Object({
  id: t.String(),
  name: t.String(),
  revision: t.Integer(),
  profiles: t.Array(t.Object({ name: t.String(), description: t.Optional(t.String()) })),
  updatedAt: t.String(),
  source: SourceState,
});
const SyncEntry = t.Object({
  runtimeId: t.String(),
  runtimeName: t.String(),
  state: t.Union([t.Literal("synced"), t.Literal("pending"), t.Literal("failed")]),
  revision: t.Nullable(t.Integer()),
  lastSyncedAt: t.Nullable(t.String()),
  error: t.Optional(t.Object({ code: t.String(), message: t.String() })),
});
const BrowserRuntime = t.Object({
  id: t.String(),
  name: t.String(),
  kind: t.String(),
  status: t.Union([t.Literal("up"), t.Literal("down")]),
  workspaces: t.Array(t.String()),
  lastSeenAt: t.Nullable(t.String()),
});
const AdminRuntime = t.Composite([BrowserRuntime, t.Object({ endpoint: t.Nullable(t.String()), origin: t.String() })]);
const LaunchedWorker = t.Object({
  id: t.String(),
  runtimeId: t.String(),
  workspaceId: t.String(),
  profile: t.String(),
  revision: t.Nullable(t.Integer()),
  mode: t.String(),
  status: t.String(),
  createdAt: t.String(),
});

export function backendApp(backend: Backend, opts: BackendHttpOptions = {}) {
  const browser = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw browserError(e);
    }
  };
  return new Elysia()
    .use(
      httpBase({
        protectedPrefixes: ["/api/", "/admin/"],
        token: opts.token,
        maxBodyBytes: BODY_LIMIT,
        routes: ROUTES,
        logger: opts.logger,
      }),
    )
    .get("/", () => new Response(CONSOLE_HTML, { headers: { "content-type": "text/html; charset=utf-8" } }))
    .get("/healthz", () => ({ status: "ok" as const }), { response: t.Object({ status: t.Literal("ok") }) })
    .get("/api/v1/workspaces", () => ({ workspaces: backend.listWorkspaces() }), {
      response: t.Object({ workspaces: t.Array(WorkspaceSummary) }),
    })
    .get("/api/v1/workspaces/:id", ({ params }) => browser(() => ({ workspace: backend.getWorkspace(params.id) })), {
      params: IdParams,
      response: t.Object({ workspace: t.Composite([WorkspaceSummary, t.Object({ sync: t.Array(SyncEntry) })]) }),
    })
    .post(
      "/api/v1/workspaces/:id/workers",
      async ({ params, request }) => {
        const body = await readJson(request, BODY_LIMIT);
        const worker = await browser(() => backend.launch(params.id, body));
        return json({ worker }, 201);
      },
      { params: IdParams, parse: "none" },
    )
    .post(
      "/api/v1/workspaces/:id/resync",
      ({ params }) => browser(() => json({ sync: backend.resync(params.id) }, 202)),
      { params: IdParams, parse: "none" },
    )
    .get("/api/v1/runtimes", () => ({ runtimes: backend.listRuntimes() }), {
      response: t.Object({ runtimes: t.Array(BrowserRuntime) }),
    })
    .get("/api/v1/workers", () => ({ workers: backend.listWorkers() }), {
      response: t.Object({ workers: t.Array(LaunchedWorker) }),
    })
    .get("/admin/v1/runtimes", () => ({ runtimes: backend.listRuntimesAdmin() }), {
      response: t.Object({ runtimes: t.Array(AdminRuntime) }),
    })
    .post(
      "/admin/v1/runtimes",
      async ({ request }) => json({ runtime: await backend.registerRuntime(await readJson(request, BODY_LIMIT)) }, 201),
      { parse: "none" },
    )
    .delete("/admin/v1/runtimes/:id", ({ params }) => ({ runtime: backend.deleteRuntime(params.id) }), {
      params: IdParams,
      response: t.Object({ runtime: AdminRuntime }),
    });
}
