/**
 * `GET /api/models/{provider}/{model...}`: one catalog entry plus what the app shows beside it: `slots: { total,
 * busy }` right now and the host's `/props` (template, settings, build). The id may be given raw or percent-encoded,
 * and resolves like any request (an alias names its first member, a host alias its model). Nothing here loads a
 * model: for a router-mode model that is not loaded, or a host that is not online, `slots` and `props` are null and
 * the entry says why.
 */
import { slotUse } from "../catalog/catalog.js";
import { decodeModelParam, lookUpModel } from "../catalog/lookup.js";
import { liveConfig } from "../config/load.js";
import type { Handler } from "../request-context.js";
import { json } from "../http.js";
import { probeModelInfo } from "../upstream/discovery.js";

export const modelDetailHandler: Handler = async (request, env) => {
  const id = decodeModelParam(request.params.id ?? "");
  const config = (await liveConfig(env)).config;
  const { route, entry, provider } = await lookUpModel(config, env, id);
  const reachable = entry.status === "online" && entry.loaded !== false;
  const [slots, props] = await Promise.all([
    slotUse(config, env, entry, 0),
    reachable ? probeModelInfo(route.provider, env, "/props", entry.upstream).then((a) => (a.ok ? a.body : null)) : null,
  ]);
  const why = provider?.error ? { reason: provider.reason, error: provider.error } : {};
  return json({ ...entry, ...why, slots, props }, { headers: { "cache-control": "no-store" } });
};
