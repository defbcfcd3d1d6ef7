/**
 * One catalog entry by any name a request may use (composite id, a host alias after `provider/`, an alias, a unique
 * bare name): resolved by the one resolver, then found in the catalog by the id the resolver answered. The catalog
 * lists exactly the resolver's names (resolver/served.ts), so an id inference accepts is never a 404 here.
 */
import type { ProvidersConfig } from "../config/schema.js";
import type { Env } from "../env.js";
import { hostUnreachable, modelNotFound, NO_SUCH_MODEL, RouterError, timedOut, unavailable, upstreamError } from "../errors.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { resolveRequestModel } from "../inference/candidates.js";
import { catalogFor, type Catalog, type CatalogModel, type CatalogProvider } from "./catalog.js";

export interface CatalogLookup {
  route: ModelRoute;
  entry: CatalogModel;
  provider: CatalogProvider | undefined;
  catalog: Catalog;
}

/** `{id+}` of `/v1/models/` and `/api/models/`: raw or percent-encoded. */
export function decodeModelParam(param: string): string {
  try {
    return decodeURIComponent(param);
  } catch {
    throw modelNotFound("model id is not valid percent-encoding");
  }
}

export async function lookUpModel(config: ProvidersConfig, env: Env, id: string): Promise<CatalogLookup> {
  const [route] = await resolveRequestModel(config, id, env);
  if (!route) throw modelNotFound(NO_SUCH_MODEL);
  const catalog = await catalogFor(config, env, [route.provider.id]);
  const provider = catalog.providers[0];
  const entry = catalog.models.find((m) => m.id === route.id);
  if (!entry) throw whyUnknown(provider);
  return { route, entry, provider, catalog };
}

/**
 * Only a model the router cannot confirm is missing from the catalog: one on a discovering host that has not been
 * reached. Say why the host could not confirm it, rather than "no such model".
 */
function whyUnknown(provider: CatalogProvider | undefined): RouterError {
  if (!provider || provider.status === "online" || provider.status === "unknown") return modelNotFound(NO_SUCH_MODEL);
  const why = provider.error ?? `provider "${provider.id}" is ${provider.status}`;
  if (provider.status === "unauthorized") return upstreamError(why, "upstream_unauthorized");
  if (provider.status === "loading") return unavailable(why, "host_loading");
  if (provider.reason === "timeout") return timedOut(why, "upstream_timeout");
  return hostUnreachable(why);
}
