/**
 * Step 2 of the inference pipeline: which hosts may answer a request, best first. The client's model string is
 * resolved with the shared resolver (probing only the hosts whose model lists matter: none at all for a configured
 * composite id), an alias pool is ordered for the request's agent session, and hosts that failed moments ago go last.
 * A miss becomes the right error here. See docs/architecture.md, "The request flow".
 */
import { liveConfig } from "../config/load.js";
import type { ProvidersConfig } from "../config/schema.js";
import type { Env } from "../env.js";
import { NO_SUCH_MODEL, ambiguousModel, modelNotFound } from "../errors.js";
import type { RouterRequest } from "../request-context.js";
import { orderForSession, sessionTag } from "../resolver/affinity.js";
import { providersToProbe, resolveModel, type ModelRoute } from "../resolver/resolve.js";
import { discover } from "../upstream/discovery.js";
import { healthyFirst } from "../upstream/recent-failures.js";
import { sessionKey } from "./session.js";

/** The candidates for `model`, in the order they are tried; the session (if any) goes into the log line. */
export async function candidatesFor(request: RouterRequest, env: Env, model: string): Promise<ModelRoute[]> {
  const config = (await liveConfig(env)).config;
  const session = sessionKey(request.headers);
  if (session) request.log.session = sessionTag(session);
  return healthyFirst(orderForSession(await resolveRequestModel(config, model, env), session));
}

/** Resolves a client's model string to its routes, or throws `model_not_found` / `ambiguous_model`. */
export async function resolveRequestModel(config: ProvidersConfig, requested: string, env: Env): Promise<ModelRoute[]> {
  const probe = providersToProbe(config, requested);
  const names = probe.length ? (await discover(probe, env)).names : new Map();
  const resolution = resolveModel(config, requested, names);
  if (resolution.ok) return resolution.candidates;
  if (resolution.error === "ambiguous") throw ambiguousModel(resolution.message, resolution.candidates);
  // An alias or a configured provider's miss names only configured ids; any other miss would quote the client's
  // text (see NO_SUCH_MODEL).
  const known = resolution.candidates.length > 0 || resolution.provider !== undefined;
  throw modelNotFound(known ? `${resolution.message}; GET /v1/models lists every model as provider/model` : NO_SUCH_MODEL);
}
