/**
 * The attempts a request makes, in order, from the candidates it will try. A router-mode member the router believes
 * has the model loaded is first asked to answer only if it really has (`?autoload=false`): residency figures can be a
 * few seconds old, and a model unloaded meanwhile would make the request wait on a load while another member is
 * ready. If it refuses, it comes back with loading allowed where its estimate plus a load ranks it among the members
 * after it (never before one that is loaded with a slot free), so a request is never refused for want of a loaded
 * model. A member known to need a load, or the last candidate, may load at once.
 */
import type { Candidate, Estimate, Ranking } from "./rank.js";

export interface PlannedAttempt<T extends Candidate> {
  route: T;
  /** Ask the host to answer only with the model already loaded (router mode: `?autoload=false`). */
  onlyIfLoaded: boolean;
}

/** `routes`: the candidates in the order they will be tried (the ranking's, healthy hosts first). */
export function attemptPlan<T extends Candidate>(routes: readonly T[], ranking: Ranking<T>): PlannedAttempt<T>[] {
  const estimates = new Map<T, Estimate<T>>(ranking.order.map((e) => [e.route, e]));
  const guarded = routes.map((route, i) => {
    const e = estimates.get(route);
    return e !== undefined && e.routerMode && e.load === "none" && i < routes.length - 1;
  });
  // A guarded member's second attempt, loading allowed, goes after every later member that is ready (loaded, a slot
  // free) or whose estimate is still below this one's plus a load.
  const secondAttempts = new Map<number, T[]>();
  routes.forEach((route, i) => {
    if (!guarded[i]) return;
    const e = estimates.get(route)!;
    const loadingTtft = e.ttftMs + e.loadIfNeededMs;
    let after = i;
    for (let j = i + 1; j < routes.length; j++) {
      const later = estimates.get(routes[j]!);
      if (!later || (later.load === "none" && later.freeSlot) || later.ttftMs <= loadingTtft) after = j;
    }
    secondAttempts.set(after, [...(secondAttempts.get(after) ?? []), route]);
  });
  return routes.flatMap((route, i) => [
    { route, onlyIfLoaded: guarded[i]! },
    ...(secondAttempts.get(i) ?? []).map((again) => ({ route: again, onlyIfLoaded: false })),
  ]);
}
