/**
 * `GET /api/models/{provider}/{model...}`: one catalog entry plus what the app shows beside it: `slots: { total,
 * busy }` right now and the host's `/props` (template, settings, build). The id may be given raw or percent-encoded,
 * and resolves like any request (an alias names its first member). Nothing here loads a model: for a router-mode
 * model that is not loaded, or a host that is not online, `slots` and `props` are null and the entry says why.
 */
import { catalogFor, slotUse, type CatalogProvider } from "../catalog/catalog.js";
import { liveConfig } from "../config/load.js";
import type { Handler } from "../context.js";
import { NO_SUCH_MODEL, RouterError, hostUnreachable, modelNotFound } from "../errors.js";
import { json } from "../http.js";
import { probeModelInfo } from "../upstream/discovery.js";
import { resolveRequestModel } from "../v1/resolve-request.js";

export const modelDetailHandler: Handler = async (request, env) => {
  const id = decodeModelParam(request.params.id ?? "");
  const config = (await liveConfig(env)).config;
  const [route] = await resolveRequestModel(config, id, env);
  if (!route) throw modelNotFound(NO_SUCH_MODEL);
  const catalog = await catalogFor(config, env, [route.provider.id]);
  const provider = catalog.providers[0];
  const entry = catalog.models.find((m) => m.id === route.id);
  if (!entry) throw whyUnknown(provider);

  const reachable = entry.status === "online" && entry.loaded !== false;
  const [slots, props] = await Promise.all([
    slotUse(config, env, entry, 0),
    reachable ? probeModelInfo(route.provider, env, "/props", entry.upstream).then((a) => (a.ok ? a.body : null)) : null,
  ]);
  return json({ ...entry, ...(provider?.error ? { error: provider.error } : {}), slots, props }, { headers: { "cache-control": "no-store" } });
};

/** A discovered model can only be confirmed by its host: say why the host could not, rather than "no such model". */
function whyUnknown(provider: CatalogProvider | undefined): RouterError {
  if (!provider || provider.status === "online" || provider.status === "unknown") return modelNotFound(NO_SUCH_MODEL);
  const why = provider.error ?? `provider "${provider.id}" is ${provider.status}`;
  if (provider.status === "unauthorized") return new RouterError(502, why, "upstream_error", "upstream_unauthorized");
  if (provider.status === "loading") return new RouterError(503, why, "service_unavailable_error", "host_loading");
  return hostUnreachable(why);
}

function decodeModelParam(param: string): string {
  try {
    return decodeURIComponent(param);
  } catch {
    throw modelNotFound("model id is not valid percent-encoding");
  }
}
