/**
 * The attempts a request makes, in order, from the candidates it will try. A router-mode member the router believes
 * has the model loaded is first asked to answer only if it really has (`?autoload=false`): residency figures can be a
 * few seconds old, and a model unloaded meanwhile would make the request wait on a load while another member is
 * ready. If it refuses, the next members are tried, and it comes back last with loading allowed, so a request is
 * never refused for want of a loaded model. A member known to need a load, or the last candidate, may load at once.
 */
import type { Candidate, Ranking } from "./rank.js";

export interface PlannedAttempt<T extends Candidate> {
  route: T;
  /** Ask the host to answer only with the model already loaded (router mode: `?autoload=false`). */
  onlyIfLoaded: boolean;
}

/** `routes`: the candidates in the order they will be tried (the ranking's, healthy hosts first). */
export function attemptPlan<T extends Candidate>(routes: readonly T[], ranking: Ranking<T>): PlannedAttempt<T>[] {
  const estimates = new Map(ranking.order.map((e) => [e.route, e]));
  const plan: PlannedAttempt<T>[] = [];
  const lastResort: PlannedAttempt<T>[] = [];
  routes.forEach((route, i) => {
    const e = estimates.get(route);
    const guarded = e !== undefined && e.routerMode && e.load === "none" && i < routes.length - 1;
    plan.push({ route, onlyIfLoaded: guarded });
    if (guarded) lastResort.push({ route, onlyIfLoaded: false });
  });
  return [...plan, ...lastResort];
}
