/**
 * Workspace sources: build each directory into a bundle, give every content change the
 * next revision, keep the last good revision when a source stops building, and watch the
 * directories for changes (debounced).
 */
import { type FSWatcher, watch } from "node:fs";
import { type Built, buildWorkspace, SourceError } from "../bundle/build.ts";
import { canonicalBundle, sha256Hex } from "../bundle/digest.ts";
import { ID_RE } from "../bundle/model.ts";
import type { Logger } from "../log.ts";
import type { BackendStore, WorkspaceRow } from "./store.ts";

export interface CurrentBundle {
  workspaceId: string;
  bundleId: string;
  digest: string;
  revision: number;
  bytes: string;
}

export class Workspaces {
  private readonly keys = new Map<string, string>();
  private readonly watchers: FSWatcher[] = [];
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly cache = new Map<string, CurrentBundle>();

  constructor(
    private readonly store: BackendStore,
    readonly dirs: string[],
    private readonly log: Logger,
    private readonly onChange: (workspaceId: string) => void,
  ) {
    for (const dir of dirs) this.keys.set(dir, sha256Hex(dir));
    // A source no longer configured is no longer a workspace of this backend.
    const keys = new Set(this.keys.values());
    for (const w of store.workspaces()) if (!keys.has(w.source_key)) store.deleteWorkspace(w.id);
  }

  /** Builds one source. Returns the workspace id when its current bundle changed. */
  rebuild(dir: string): string | undefined {
    const key = this.keys.get(dir)!;
    const prev = this.store.workspaceBySource(key);
    let built: Built;
    try {
      built = buildWorkspace(dir);
      const other = this.store.workspace(built.bundle.metadata.workspaceId);
      if (other && other.source_key !== key) {
        const err = new SourceError("invalid_source", "workspace.yaml: /id: another workspace source has this id");
        throw err;
      }
    } catch (e) {
      if (!(e instanceof SourceError)) throw e;
      this.recordError(key, prev, e);
      return undefined;
    }
    const { bundle, digest } = built;
    const workspaceId = bundle.metadata.workspaceId;
    if (prev && prev.id !== workspaceId) this.store.deleteWorkspace(prev.id);
    const unchanged = prev && prev.id === workspaceId && prev.digest === digest;
    const revision = unchanged ? prev.revision : (prev?.id === workspaceId ? prev.revision : 0) + 1;
    if (!unchanged) {
      bundle.metadata.revision = revision;
      this.store.putBundle(digest, workspaceId, revision, canonicalBundle(bundle).bytes);
    }
    const now = new Date().toISOString();
    this.store.upsertWorkspace({
      id: workspaceId,
      source_key: key,
      name: bundle.content.workspace.name,
      revision,
      digest,
      bundle_id: bundle.metadata.id,
      profiles: JSON.stringify(
        bundle.content.profiles.map((p) => ({
          name: p.name,
          ...(p.description !== undefined && { description: p.description }),
        })),
      ),
      updated_at: unchanged ? prev.updated_at : now,
      source_state: "ok",
      error_code: null,
      error_message: null,
    });
    if (unchanged) {
      if (prev.source_state !== "ok") this.log.info("workspace_source_recovered", { workspaceId, revision });
      return undefined;
    }
    this.log.info("workspace_built", { workspaceId, revision });
    return workspaceId;
  }

  private recordError(key: string, prev: WorkspaceRow | null, e: SourceError) {
    const id = prev?.id ?? e.workspaceId;
    this.log.warn("workspace_source_error", { workspaceId: id, code: e.code });
    if (prev) {
      this.store.setSourceError(prev.id, e.code, e.message);
    } else if (id && ID_RE.test(id) && !this.store.workspace(id)) {
      this.store.upsertWorkspace({
        id,
        source_key: key,
        name: id,
        revision: 0,
        digest: null,
        bundle_id: null,
        profiles: "[]",
        updated_at: new Date().toISOString(),
        source_state: "error",
        error_code: e.code,
        error_message: e.message,
      });
    }
  }

  /** Rebuilds every source; calls onChange for each workspace whose bundle changed. */
  rebuildAll(): void {
    for (const dir of this.dirs) {
      const changed = this.rebuild(dir);
      if (changed) this.onChange(changed);
    }
  }

  /** The workspace's current bundle. The bytes are read from the store once per revision. */
  current(workspaceId: string): CurrentBundle | undefined {
    const ws = this.store.workspace(workspaceId);
    if (!ws?.digest || !ws.bundle_id) return undefined;
    const cached = this.cache.get(workspaceId);
    if (cached && cached.digest === ws.digest && cached.revision === ws.revision) return cached;
    const bytes = this.store.bundleBytes(ws.digest);
    if (bytes === undefined) return undefined;
    const cur = { workspaceId, bundleId: ws.bundle_id, digest: ws.digest, revision: ws.revision, bytes };
    this.cache.set(workspaceId, cur);
    return cur;
  }

  ids(): string[] {
    return this.store.workspaces().map((w) => w.id);
  }

  watch(debounceMs: number): void {
    for (const dir of this.dirs) {
      try {
        const w = watch(dir, { recursive: true }, () => this.schedule(dir, debounceMs));
        w.on("error", () => {});
        this.watchers.push(w);
      } catch {
        this.log.warn("workspace_watch_unavailable", {});
      }
    }
  }

  private schedule(dir: string, debounceMs: number) {
    const t = this.timers.get(dir);
    if (t) clearTimeout(t);
    this.timers.set(
      dir,
      setTimeout(() => {
        this.timers.delete(dir);
        const changed = this.rebuild(dir);
        if (changed) this.onChange(changed);
      }, debounceMs),
    );
  }

  close(): void {
    for (const w of this.watchers) w.close();
    for (const t of this.timers.values()) clearTimeout(t);
  }
}
