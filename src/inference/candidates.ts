/**
 * Step 2 of the inference pipeline: which hosts may answer a request, best first. The client's model string is
 * resolved with the shared resolver (probing only the hosts whose model lists matter: none at all for a configured
 * composite id); a pool is ranked by the fleet router (routing/: expected time to first token from the hosts' load,
 * prompt caches and loaded models for `replicas`, config order for an `ordered` chain); hosts that failed moments
 * ago go last. A miss becomes the right error here. See docs/architecture.md, "The request flow".
 */
import { aliasMembers } from "../config/aliases.js";
import { liveConfig } from "../config/load.js";
import type { ProvidersConfig } from "../config/schema.js";
import type { Env } from "../env.js";
import { NO_SUCH_MODEL, ambiguousModel, modelNotFound } from "../errors.js";
import type { RouterRequest } from "../request-context.js";
import { sessionTag } from "../resolver/affinity.js";
import { providersToProbe, resolveModel, type ModelRoute } from "../resolver/resolve.js";
import { EMPTY_CHAIN, fleet, type PrefixChain, type Ranking } from "../routing/index.js";
import { discover } from "../upstream/discovery.js";
import { healthyFirst } from "../upstream/recent-failures.js";
import { refreshHostReports } from "./host-reports.js";
import { sessionKey } from "./session.js";

export interface Candidates {
  /** In the order they are tried. */
  routes: ModelRoute[];
  /** The fleet router's estimates, for its begin/end bookkeeping and the route header's reason. */
  ranking: Ranking<ModelRoute>;
  /** A stream that breaks mid-answer may be continued (off only by an alias's `continuation: false`). */
  continuation: boolean;
}

/** The candidates for `model`; the session (if any) goes into the log line. */
export async function candidatesFor(request: RouterRequest, env: Env, model: string, chain: PrefixChain = EMPTY_CHAIN, pinnable = false): Promise<Candidates> {
  const config = (await liveConfig(env)).config;
  const session = sessionKey(request.headers);
  if (session) request.log.session = sessionTag(session);
  const { candidates, policy } = await resolveRequest(config, model, env);
  // A replicas pool is ranked on the hosts' reports (the very first ones are awaited briefly); any host may have its
  // requests pinned to a slot once its slot count is known, so it is kept current too, in the background.
  const balanced = policy === "replicas" && candidates.length > 1;
  if (balanced || pinnable) await refreshHostReports(candidates, env, request.waitUntil, { pool: balanced });
  const ranking = fleet.rank({ candidates, policy, session, chain, pinnable }, Date.now());
  const alias = config.aliases[model];
  return { routes: healthyFirst(ranking.order.map((e) => e.route)), ranking, continuation: alias === undefined || aliasMembers(alias).continuation };
}

/** Resolves a client's model string to its routes, or throws `model_not_found` / `ambiguous_model`. */
export async function resolveRequestModel(config: ProvidersConfig, requested: string, env: Env): Promise<ModelRoute[]> {
  return (await resolveRequest(config, requested, env)).candidates;
}

async function resolveRequest(config: ProvidersConfig, requested: string, env: Env) {
  const probe = providersToProbe(config, requested);
  const names = probe.length ? (await discover(probe, env)).names : new Map();
  const resolution = resolveModel(config, requested, names);
  if (resolution.ok) return resolution;
  if (resolution.error === "ambiguous") throw ambiguousModel(resolution.message, resolution.candidates);
  // An alias or a configured provider's miss names only configured ids; any other miss would quote the client's
  // text (see NO_SUCH_MODEL).
  const known = resolution.candidates.length > 0 || resolution.provider !== undefined;
  throw modelNotFound(known ? `${resolution.message}; GET /v1/models lists every model as provider/model` : NO_SUCH_MODEL);
}
