/**
 * Failover across a model's candidates (an alias pool), shared by inference and the per-model host calls of the app
 * API: try them in order, move on only when the HOST failed before answering (the upstream layer marks those errors
 * `failover`: unreachable, timeouts, 502/503/504, loading, a tunnel's page; or a router-mode host that was asked not
 * to load the model and does not have it loaded), never on the host's verdict about the
 * request (a 4xx, or llama-server's own JSON 500 about a template: every member would say the same, and the host is
 * alive). Failures are remembered briefly (recent-failures.ts); every member down is one 503 naming what was tried.
 */
import type { RouterRequest } from "../request-context.js";
import { RouterError, unavailable } from "../errors.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { markFailed, markHealthy } from "./recent-failures.js";

export async function firstThatAnswers<T>(request: RouterRequest, candidates: ModelRoute[], attempt: (route: ModelRoute, index: number) => Promise<T>): Promise<T> {
  const failures: { route: ModelRoute; error: RouterError }[] = [];
  for (const [index, route] of candidates.entries()) {
    request.log.route = route.id;
    try {
      const value = await attempt(route, index);
      markHealthy(route.provider);
      return value;
    } catch (err) {
      if (!(err instanceof RouterError) || !err.failover) throw err;
      if (err.failover === "host_down") markFailed(route.provider);
      failures.push({ route, error: err });
    }
  }
  if (failures.length === 1) throw failures[0]!.error;
  const tried = failures.map((f) => `${f.route.id}: ${f.error.message}`).join("; ");
  throw unavailable(`every member of the pool failed: ${tried}`, "no_available_host", {
    tried: failures.map((f) => ({ model: f.route.id, status: f.error.status, code: f.error.code })),
  });
}
