/**
 * The runtime registry (clients, health, up/down) and the sync engine. A sync for one
 * runtime asks availability for all its pending workspaces in one call and PUTs only
 * what is missing. Transient failures retry with capped exponential backoff and jitter;
 * a permanent rejection is recorded once and not retried until the workspace's bundle or
 * the runtime changes.
 */
import { BundlesyncError } from "../http/errors.ts";
import type { Logger } from "../log.ts";
import { isTransient, type RuntimeClient, type RuntimeInfo } from "./clients.ts";
import { type SyncConfig, visibleTo } from "./config.ts";
import type { BackendStore, RuntimeRow, SyncRow } from "./store.ts";
import type { CurrentBundle, Workspaces } from "./workspaces.ts";

export interface RuntimeEntry {
  row: RuntimeRow;
  workspaces: string[];
  client: RuntimeClient;
  status: "up" | "down";
  lastSeenAt?: string;
  /** Runtime id + version as last seen; a change means "the runtime changed". */
  instance?: string;
  info?: RuntimeInfo;
}

interface Job {
  pending: Set<string>;
  forced: Set<string>;
  running: boolean;
  retry?: ReturnType<typeof setTimeout>;
  retryAttempt: number;
  idle: (() => void)[];
}

export class SyncEngine {
  readonly runtimes = new Map<string, RuntimeEntry>();
  private readonly jobs = new Map<string, Job>();
  private healthTimer?: ReturnType<typeof setInterval>;
  private closed = false;

  constructor(
    private readonly store: BackendStore,
    private readonly workspaces: Workspaces,
    private readonly cfg: SyncConfig,
    private readonly log: Logger,
  ) {}

  add(entry: RuntimeEntry): void {
    this.runtimes.set(entry.row.id, entry);
  }

  remove(id: string): void {
    this.runtimes.delete(id);
    const job = this.jobs.get(id);
    if (job?.retry) clearTimeout(job.retry);
    this.jobs.delete(id);
  }

  visibleRuntimes(workspaceId: string): RuntimeEntry[] {
    return [...this.runtimes.values()].filter((r) => visibleTo(r.workspaces, workspaceId));
  }

  /** Schedules a sync of these workspaces (default: all it may see) to one runtime. */
  request(runtimeId: string, workspaceIds?: string[], force = false): void {
    const rt = this.runtimes.get(runtimeId);
    if (!rt || this.closed) return;
    const ids = (workspaceIds ?? this.workspaces.ids()).filter((w) => visibleTo(rt.workspaces, w));
    if (ids.length === 0) return;
    let job = this.jobs.get(runtimeId);
    if (!job) {
      job = { pending: new Set(), forced: new Set(), running: false, retryAttempt: 0, idle: [] };
      this.jobs.set(runtimeId, job);
    }
    for (const id of ids) {
      job.pending.add(id);
      if (force) job.forced.add(id);
      this.markPending(runtimeId, id);
    }
    if (!job.running) void this.run(runtimeId, job);
  }

  /** Schedules a workspace to every runtime that may see it. */
  requestWorkspace(workspaceId: string, force = false): void {
    for (const rt of this.visibleRuntimes(workspaceId)) this.request(rt.row.id, [workspaceId], force);
  }

  requestAll(): void {
    for (const id of this.runtimes.keys()) this.request(id);
  }

  /** Resolves when no sync is queued or running (retries waiting on a timer do not count). */
  async idle(): Promise<void> {
    const busy = [...this.jobs.values()].filter((j) => j.running);
    await Promise.all(busy.map((j) => new Promise<void>((r) => j.idle.push(r))));
  }

  private markPending(runtimeId: string, workspaceId: string) {
    const cur = this.workspaces.current(workspaceId);
    const row = this.store.sync(runtimeId, workspaceId);
    if (!cur || row?.digest === cur.digest) return;
    if (row?.state === "failed" && row.target_digest === cur.digest) return;
    this.store.upsertSync({
      ...this.baseRow(runtimeId, workspaceId, row),
      state: "pending",
      target_digest: cur.digest,
    });
  }

  private baseRow(runtimeId: string, workspaceId: string, row: SyncRow | null): SyncRow {
    return (
      row ?? {
        runtime_id: runtimeId,
        workspace_id: workspaceId,
        state: "pending",
        revision: null,
        digest: null,
        target_digest: null,
        error_code: null,
        attempts: 0,
        last_attempt_at: null,
        last_synced_at: null,
        runtime_instance: null,
      }
    );
  }

  private async run(runtimeId: string, job: Job): Promise<void> {
    job.running = true;
    try {
      while (job.pending.size > 0 && !this.closed) {
        const ids = [...job.pending];
        const forced = new Set(job.forced);
        job.pending.clear();
        job.forced.clear();
        const rt = this.runtimes.get(runtimeId);
        if (!rt) return;
        let retry: string[];
        try {
          retry = await this.syncOnce(rt, ids, forced);
        } catch (err) {
          // Only a closed store (shutdown) or a bug gets here; neither may take the process down.
          if (this.closed) return;
          this.log.error("sync_internal_error", { runtimeId, kind: err instanceof Error ? err.name : typeof err });
          retry = ids;
        }
        if (retry.length > 0) {
          this.scheduleRetry(runtimeId, job, retry);
        } else if (job.pending.size === 0) {
          job.retryAttempt = 0;
        }
      }
    } finally {
      job.running = false;
      for (const r of job.idle.splice(0)) r();
    }
  }

  private scheduleRetry(runtimeId: string, job: Job, ids: string[]) {
    job.retryAttempt++;
    const exp = Math.min(this.cfg.retryMaxMs, this.cfg.retryBaseMs * 2 ** (job.retryAttempt - 1));
    const delay = Math.round(exp * (0.5 + Math.random() * 0.5));
    if (job.retry) clearTimeout(job.retry);
    job.retry = setTimeout(() => {
      job.retry = undefined;
      this.request(runtimeId, ids);
    }, delay);
    job.retry.unref?.();
  }

  /** One bulk pass for a runtime. Returns the workspaces to retry after a transient failure. */
  private async syncOnce(rt: RuntimeEntry, ids: string[], forced: Set<string>): Promise<string[]> {
    const now = () => new Date().toISOString();
    const targets: { cur: CurrentBundle; row: SyncRow | null }[] = [];
    for (const id of ids) {
      if (!visibleTo(rt.workspaces, id)) continue; // never sync what a runtime may not see
      const cur = this.workspaces.current(id);
      if (!cur) continue;
      const row = this.store.sync(rt.row.id, id);
      const permanent =
        row?.state === "failed" && row.target_digest === cur.digest && row.runtime_instance === (rt.instance ?? null);
      if (permanent && !forced.has(id)) continue;
      targets.push({ cur, row });
    }
    if (targets.length === 0) return [];

    const fail = (t: { cur: CurrentBundle; row: SyncRow | null }, err: unknown): boolean => {
      const transient = isTransient(err);
      const code = err instanceof BundlesyncError ? err.code : "internal";
      const base = this.baseRow(rt.row.id, t.cur.workspaceId, this.store.sync(rt.row.id, t.cur.workspaceId));
      this.store.upsertSync({
        ...base,
        state: transient ? "pending" : "failed",
        target_digest: t.cur.digest,
        error_code: code,
        attempts: base.attempts + 1,
        last_attempt_at: now(),
        runtime_instance: rt.instance ?? null,
      });
      this.log.warn("sync_failed", {
        runtimeId: rt.row.id,
        workspaceId: t.cur.workspaceId,
        revision: t.cur.revision,
        code,
        transient,
      });
      return transient;
    };
    const ok = (t: { cur: CurrentBundle }, put: boolean) => {
      const at = now();
      const prev = this.store.sync(rt.row.id, t.cur.workspaceId);
      this.store.upsertSync({
        ...this.baseRow(rt.row.id, t.cur.workspaceId, prev),
        state: "synced",
        revision: t.cur.revision,
        digest: t.cur.digest,
        target_digest: t.cur.digest,
        error_code: null,
        attempts: 0,
        last_attempt_at: at,
        last_synced_at: at,
        runtime_instance: rt.instance ?? null,
      });
      if (put || prev?.digest !== t.cur.digest) {
        this.log.info("sync_done", {
          runtimeId: rt.row.id,
          workspaceId: t.cur.workspaceId,
          revision: t.cur.revision,
          put,
        });
      }
    };

    let results: { status: string }[];
    try {
      results = await rt.client.availability(targets.map((t) => ({ id: t.cur.bundleId, digest: t.cur.digest })));
    } catch (err) {
      const retry = targets.filter((t) => fail(t, err)).map((t) => t.cur.workspaceId);
      if (isTransient(err)) this.markDown(rt);
      return retry;
    }
    const retry: string[] = [];
    await Promise.all(
      targets.map(async (t, i) => {
        if (results[i]?.status === "available") return ok(t, false);
        try {
          await rt.client.putBundle(t.cur.digest, t.cur.bytes);
          ok(t, true);
        } catch (err) {
          if (fail(t, err)) retry.push(t.cur.workspaceId);
        }
      }),
    );
    return retry;
  }

  private markDown(rt: RuntimeEntry) {
    if (rt.row.kind === "embedded" || rt.status === "down") return;
    rt.status = "down";
    this.log.warn("runtime_down", { runtimeId: rt.row.id });
  }

  /** One health check: up/down, and a full sync when a runtime comes (back) up or changed. */
  async check(rt: RuntimeEntry): Promise<void> {
    let info: RuntimeInfo;
    try {
      info = await rt.client.info();
    } catch {
      this.markDown(rt);
      return;
    }
    if (this.closed) return;
    const instance = `${info.id}@${info.version}`;
    const cameUp = rt.status !== "up" || rt.instance !== instance;
    if (rt.status !== "up") this.log.info("runtime_up", { runtimeId: rt.row.id });
    rt.status = "up";
    rt.info = info;
    rt.lastSeenAt = new Date().toISOString();
    if (rt.instance !== undefined && rt.instance !== instance) {
      this.log.info("runtime_changed", { runtimeId: rt.row.id });
    }
    rt.instance = instance;
    if (cameUp) this.request(rt.row.id);
  }

  startHealthChecks(): void {
    const tick = () => {
      for (const rt of this.runtimes.values()) void this.check(rt);
    };
    this.healthTimer = setInterval(tick, this.cfg.healthSeconds * 1000);
    this.healthTimer.unref?.();
  }

  close(): void {
    this.closed = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const job of this.jobs.values()) if (job.retry) clearTimeout(job.retry);
  }
}
