/**
 * Keeps the fleet router's picture of the hosts a request may go to current: each one's `/slots` (how many slots,
 * which are busy) and, for a router-mode host, which models are loaded (its `/v1/models` status, from discovery's
 * cached probe). Refreshed in the background (`waitUntil`) once the figures are a few seconds old, so no request
 * waits on them; only a pool member the router knows nothing about yet is asked before ranking, for at most
 * FIRST_REPORT_WAIT_MS.
 */
import type { Env } from "../env.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { fleet, type Residency } from "../routing/index.js";
import { probeHost, probeModelInfo } from "../upstream/discovery.js";
import { markHealthy } from "../upstream/recent-failures.js";

/** How long the first request to a host the router has no figures for waits for them before it is ranked blind. */
const FIRST_REPORT_WAIT_MS = 750;
const RESIDENCY = new Set<string>(["loaded", "unloaded", "loading"]);

/**
 * `pool`: a replicas pool is about to be ranked on these figures, so residency is read too and a host the router has
 * no figures for is waited on; otherwise only the slot count matters (for pinning a slot), in the background.
 */
export async function refreshHostReports(routes: readonly ModelRoute[], env: Env, waitUntil: (work: Promise<unknown>) => void, options: { pool: boolean }): Promise<void> {
  const now = Date.now();
  const firstTime: Promise<unknown>[] = [];
  for (const route of routes) {
    // A pool is ranked on residency too, which only a pool's refresh reads: slots read for a single-host request or
    // by the catalog are not enough for its first ranking.
    const firstPoolLook = options.pool && !fleet.signals.residencyRead(route.provider);
    if (!fleet.needsRefresh(route.provider, now) && !firstPoolLook) continue;
    const work = fetchReports(route, env, options.pool);
    waitUntil(work);
    if (firstPoolLook) firstTime.push(Promise.race([work, new Promise((resolve) => setTimeout(resolve, FIRST_REPORT_WAIT_MS))]));
  }
  await Promise.all(firstTime);
}

async function fetchReports(route: ModelRoute, env: Env, withResidency: boolean): Promise<void> {
  const [slots, models] = await Promise.all([
    probeModelInfo(route.provider, env, "/slots", route.upstream, { maxAgeMs: 1_000 }),
    withResidency && route.provider.discover ? probeHost(route.provider, env) : undefined,
  ]);
  const now = Date.now();
  if (slots.ok) {
    // Dated when it was asked: a slot the router's own request freed while the answer was on its way still shows
    // busy in it, and must not read as another client's.
    fleet.recordSlots(route.provider, route.upstream, slots.body, slots.askedAt);
    // It answers again: no need to try it last any more (a host back from a restart is ranked as the empty host it is).
    markHealthy(route.provider);
  }
  if (models?.ok) {
    const residency = new Map<string, Residency>();
    for (const m of models.models) {
      if (m.status === undefined || !RESIDENCY.has(m.status)) continue;
      for (const name of [m.name, ...m.aliases]) residency.set(name, m.status as Residency);
    }
    if (residency.size > 0) fleet.signals.recordResidency(route.provider, residency, now);
  }
  // A router-mode host answers /slots for an unloaded model with an error: its model list alone is a report.
  const residencyRead = withResidency && (route.provider.discover ? models?.ok === true : true);
  if (slots.ok || residencyRead) fleet.signals.reported(route.provider, slots.askedAt, { withResidency: residencyRead });
}
