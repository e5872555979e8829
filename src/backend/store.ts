/**
 * The backend's SQLite state: workspaces and their bundle revisions (digest-keyed,
 * canonical bytes), registered runtimes, per (runtime, workspace) sync state, launched
 * Workers.
 */
import type { Database, Statement } from "bun:sqlite";
import { openDatabase } from "../runtime/store.ts";

export type SyncStateName = "synced" | "pending" | "failed";

export interface WorkspaceRow {
  id: string;
  source_key: string;
  name: string;
  revision: number;
  digest: string | null;
  bundle_id: string | null;
  profiles: string;
  updated_at: string;
  source_state: "ok" | "error";
  error_code: string | null;
  error_message: string | null;
}

export interface RuntimeRow {
  id: string;
  name: string;
  kind: "embedded" | "remote";
  endpoint: string | null;
  token: string | null;
  workspaces: string;
  origin: "config" | "admin";
}

export interface SyncRow {
  runtime_id: string;
  workspace_id: string;
  state: SyncStateName;
  revision: number | null;
  digest: string | null;
  target_digest: string | null;
  error_code: string | null;
  attempts: number;
  last_attempt_at: string | null;
  last_synced_at: string | null;
  runtime_instance: string | null;
}

export interface WorkerRow {
  id: string;
  runtime_id: string;
  workspace_id: string;
  profile: string;
  revision: number | null;
  mode: string;
  status: string;
  created_at: string;
}

export class BackendStore {
  readonly db: Database;
  private readonly q: Record<string, Statement>;

  constructor(dataDir: string) {
    this.db = openDatabase(dataDir, "backend.sqlite");
    this.db.run(`CREATE TABLE IF NOT EXISTS workspaces (
      id TEXT PRIMARY KEY, source_key TEXT NOT NULL UNIQUE, name TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 0,
      digest TEXT, bundle_id TEXT, profiles TEXT NOT NULL DEFAULT '[]', updated_at TEXT NOT NULL,
      source_state TEXT NOT NULL DEFAULT 'ok', error_code TEXT, error_message TEXT)`);
    this.db.run(`CREATE TABLE IF NOT EXISTS bundles (
      digest TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, revision INTEGER NOT NULL, body BLOB NOT NULL,
      created_at TEXT NOT NULL)`);
    this.db.run(`CREATE TABLE IF NOT EXISTS runtimes (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, endpoint TEXT, token TEXT,
      workspaces TEXT NOT NULL, origin TEXT NOT NULL)`);
    this.db.run(`CREATE TABLE IF NOT EXISTS sync_state (
      runtime_id TEXT NOT NULL, workspace_id TEXT NOT NULL, state TEXT NOT NULL, revision INTEGER, digest TEXT,
      target_digest TEXT, error_code TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_attempt_at TEXT,
      last_synced_at TEXT, runtime_instance TEXT, PRIMARY KEY (runtime_id, workspace_id))`);
    this.db.run(`CREATE TABLE IF NOT EXISTS workers (
      id TEXT PRIMARY KEY, runtime_id TEXT NOT NULL, workspace_id TEXT NOT NULL, profile TEXT NOT NULL,
      revision INTEGER, mode TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL)`);
    const db = this.db;
    this.q = {
      workspace: db.prepare("SELECT * FROM workspaces WHERE id = ?"),
      workspaceBySource: db.prepare("SELECT * FROM workspaces WHERE source_key = ?"),
      workspaces: db.prepare("SELECT * FROM workspaces ORDER BY id"),
      upsertWorkspace: db.prepare(`INSERT INTO workspaces (id, source_key, name, revision, digest, bundle_id, profiles,
          updated_at, source_state, error_code, error_message)
        VALUES ($id, $source_key, $name, $revision, $digest, $bundle_id, $profiles, $updated_at, $source_state, $error_code, $error_message)
        ON CONFLICT (id) DO UPDATE SET source_key = excluded.source_key, name = excluded.name, revision = excluded.revision,
          digest = excluded.digest, bundle_id = excluded.bundle_id, profiles = excluded.profiles,
          updated_at = excluded.updated_at, source_state = excluded.source_state, error_code = excluded.error_code,
          error_message = excluded.error_message`),
      setSourceError: db.prepare(
        "UPDATE workspaces SET source_state = 'error', error_code = ?, error_message = ? WHERE id = ?",
      ),
      putBundle:
        db.prepare(`INSERT INTO bundles (digest, workspace_id, revision, body, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (digest) DO UPDATE SET revision = excluded.revision, body = excluded.body`),
      bundle: db.prepare("SELECT body FROM bundles WHERE digest = ?"),
      runtime: db.prepare("SELECT * FROM runtimes WHERE id = ?"),
      runtimes: db.prepare("SELECT * FROM runtimes ORDER BY rowid"),
      upsertRuntime: db.prepare(`INSERT INTO runtimes (id, name, kind, endpoint, token, workspaces, origin)
        VALUES ($id, $name, $kind, $endpoint, $token, $workspaces, $origin)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, endpoint = excluded.endpoint,
          token = excluded.token, workspaces = excluded.workspaces, origin = excluded.origin`),
      deleteRuntime: db.prepare("DELETE FROM runtimes WHERE id = ?"),
      deleteSyncOf: db.prepare("DELETE FROM sync_state WHERE runtime_id = ?"),
      deleteConfigRuntimes: db.prepare("DELETE FROM runtimes WHERE origin = 'config'"),
      sync: db.prepare("SELECT * FROM sync_state WHERE runtime_id = ? AND workspace_id = ?"),
      syncOfWorkspace: db.prepare("SELECT * FROM sync_state WHERE workspace_id = ?"),
      upsertSync: db.prepare(`INSERT INTO sync_state (runtime_id, workspace_id, state, revision, digest, target_digest,
          error_code, attempts, last_attempt_at, last_synced_at, runtime_instance)
        VALUES ($runtime_id, $workspace_id, $state, $revision, $digest, $target_digest, $error_code, $attempts,
          $last_attempt_at, $last_synced_at, $runtime_instance)
        ON CONFLICT (runtime_id, workspace_id) DO UPDATE SET state = excluded.state, revision = excluded.revision,
          digest = excluded.digest, target_digest = excluded.target_digest, error_code = excluded.error_code,
          attempts = excluded.attempts, last_attempt_at = excluded.last_attempt_at,
          last_synced_at = excluded.last_synced_at, runtime_instance = excluded.runtime_instance`),
      insertWorker:
        db.prepare(`INSERT INTO workers (id, runtime_id, workspace_id, profile, revision, mode, status, created_at)
        VALUES ($id, $runtime_id, $workspace_id, $profile, $revision, $mode, $status, $created_at)`),
      workers: db.prepare("SELECT * FROM workers ORDER BY created_at, id"),
    };
  }

  workspace(id: string) {
    return this.q.workspace!.get(id) as WorkspaceRow | null;
  }
  workspaceBySource(key: string) {
    return this.q.workspaceBySource!.get(key) as WorkspaceRow | null;
  }
  workspaces() {
    return this.q.workspaces!.all() as WorkspaceRow[];
  }
  upsertWorkspace(row: WorkspaceRow) {
    this.q.upsertWorkspace!.run(row as never);
  }
  deleteWorkspace(id: string) {
    this.db.transaction(() => {
      this.db.run("DELETE FROM workspaces WHERE id = ?", [id]);
      this.db.run("DELETE FROM sync_state WHERE workspace_id = ?", [id]);
    })();
  }
  setSourceError(id: string, code: string, message: string) {
    this.q.setSourceError!.run(code, message, id);
  }
  putBundle(digest: string, workspaceId: string, revision: number, body: string) {
    this.q.putBundle!.run(digest, workspaceId, revision, body, new Date().toISOString());
  }
  bundleBytes(digest: string): string | undefined {
    const row = this.q.bundle!.get(digest) as { body: Uint8Array | string } | null;
    if (!row) return undefined;
    return typeof row.body === "string" ? row.body : new TextDecoder().decode(row.body);
  }
  runtime(id: string) {
    return this.q.runtime!.get(id) as RuntimeRow | null;
  }
  runtimes() {
    return this.q.runtimes!.all() as RuntimeRow[];
  }
  upsertRuntime(row: RuntimeRow) {
    this.q.upsertRuntime!.run(row as never);
  }
  deleteRuntime(id: string) {
    this.db.transaction(() => {
      this.q.deleteRuntime!.run(id);
      this.q.deleteSyncOf!.run(id);
    })();
  }
  /** Config runtimes are re-read from the config at every start; admin ones persist. */
  replaceConfigRuntimes(rows: RuntimeRow[]) {
    this.db.transaction(() => {
      this.q.deleteConfigRuntimes!.run();
      for (const r of rows) this.q.upsertRuntime!.run(r as never);
    })();
  }
  sync(runtimeId: string, workspaceId: string) {
    return this.q.sync!.get(runtimeId, workspaceId) as SyncRow | null;
  }
  syncOfWorkspace(workspaceId: string) {
    return this.q.syncOfWorkspace!.all(workspaceId) as SyncRow[];
  }
  upsertSync(row: SyncRow) {
    this.q.upsertSync!.run(row as never);
  }
  insertWorker(row: WorkerRow) {
    this.q.insertWorker!.run(row as never);
  }
  workers() {
    return this.q.workers!.all() as WorkerRow[];
  }
  close() {
    this.db.close();
  }
}
