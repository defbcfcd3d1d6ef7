/**
 * `GET /api/catalog[?live=false]`: every provider with its health, busy slots and loaded models, and every model with
 * its effective window (the app API, docs/api.md). `live=false` answers from the config alone, probing nothing
 * (status `unknown`).
 */
import { buildCatalog, modelSlots, withHostLoad } from "../catalog/catalog.js";
import { liveConfig } from "../config/load.js";
import type { Handler } from "../request-context.js";
import { badRequest } from "../errors.js";
import { json } from "../http.js";

const LIVE: Record<string, boolean> = { true: true, "1": true, false: false, "0": false };

export const catalogHandler: Handler = async (request, env) => {
  const param = request.query.live;
  const live = param === undefined ? true : typeof param === "string" ? LIVE[param] : undefined;
  if (live === undefined) throw badRequest("query parameter live must be true or false", "invalid_query", "live");
  const config = (await liveConfig(env)).config;
  const catalog = await buildCatalog(config, env, { live });
  return json(live ? withHostLoad(catalog, await modelSlots(config, env, catalog)) : catalog, { headers: { "cache-control": "no-store" } });
};
