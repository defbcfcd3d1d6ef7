/**
 * Resolves a client's model string with the shared resolver, probing only the hosts whose model lists matter
 * (none at all for a configured composite id), and turns a miss into the right error.
 */
import type { ProvidersConfig } from "../config/schema.js";
import type { Env } from "../env.js";
import { NO_SUCH_MODEL, RouterError, modelNotFound } from "../errors.js";
import { providersToProbe, resolveModel, type ModelRoute } from "../resolver/resolve.js";
import { discover } from "../upstream/discovery.js";

export async function resolveRequestModel(config: ProvidersConfig, requested: string, env: Env): Promise<ModelRoute[]> {
  const probe = providersToProbe(config, requested);
  const names = probe.length ? (await discover(probe, env)).names : new Map();
  const resolution = resolveModel(config, requested, names);
  if (resolution.ok) return resolution.candidates;
  if (resolution.error === "ambiguous") {
    return Promise.reject(new RouterError(400, resolution.message, "invalid_request_error", "ambiguous_model", "model", { candidates: resolution.candidates }));
  }
  // An alias or a configured provider's miss names only configured ids; any other miss would quote the client's
  // text (see NO_SUCH_MODEL).
  const known = resolution.candidates.length > 0 || resolution.provider !== undefined;
  return Promise.reject(modelNotFound(known ? `${resolution.message}; GET /v1/models lists every model as provider/model` : NO_SUCH_MODEL));
}
