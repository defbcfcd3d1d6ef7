/**
 * What the status page knows about the hosts (the catalog plus each loaded model's slot use), taken at most once per
 * `ANONYMOUS_REUSE_MS` per isolate for callers without a key. The page is public: without this, every anonymous load
 * (or a script reloading it in a loop) would make every host answer a probe and a `/slots` per model. Concurrent
 * loads share one snapshot being taken. A caller with a valid client key gets a fresh one (which then serves the
 * anonymous loads after it).
 */
import { buildCatalog, modelSlots, withHostLoad, type Catalog, type SlotUse } from "../catalog/catalog.js";
import type { ProvidersConfig } from "../config/schema.js";
import type { Env } from "../env.js";

/** How long anonymous loads reuse the last snapshot; longer than the catalog's own probe cache, so it really saves. */
export const ANONYMOUS_REUSE_MS = 10_000;
/**
 * How old a `/slots` answer may be in a snapshot taken for an anonymous load (the router's own background reads keep
 * such answers for the fleet router). A caller with a key asked for a fresh view: it gets the slots as they are now.
 */
const SLOTS_MAX_AGE_MS = 2_000;

export interface StatusSnapshot {
  /** With each online host's load (busy slots, loaded models). */
  catalog: Catalog;
  /** Per model of `catalog.models`, same order; null when not knowable without side effects. */
  slots: (SlotUse | null)[];
}

let last: { config: ProvidersConfig; at: number; snapshot: Promise<StatusSnapshot> } | undefined;

/** The snapshot to render: the last one when it is for this config and recent enough (and `fresh` is not asked). */
export function statusSnapshot(config: ProvidersConfig, env: Env, options: { fresh: boolean }, now = Date.now()): Promise<StatusSnapshot> {
  if (!options.fresh && last && last.config === config && now - last.at < ANONYMOUS_REUSE_MS) return last.snapshot;
  const snapshot = take(config, env, options.fresh ? 0 : SLOTS_MAX_AGE_MS);
  const entry = { config, at: now, snapshot };
  last = entry;
  // A snapshot that failed is not served again.
  snapshot.catch(() => {
    if (last === entry) last = undefined;
  });
  return snapshot;
}

/** The last snapshot of this config, however old, or undefined: never makes a host work (the activity endpoint's view). */
export function cachedSnapshot(config: ProvidersConfig): Promise<StatusSnapshot> | undefined {
  return last?.config === config ? last.snapshot : undefined;
}

async function take(config: ProvidersConfig, env: Env, slotsMaxAgeMs: number): Promise<StatusSnapshot> {
  const catalog = await buildCatalog(config, env);
  const slots = await modelSlots(config, env, catalog, slotsMaxAgeMs);
  return { catalog: withHostLoad(catalog, slots), slots };
}
