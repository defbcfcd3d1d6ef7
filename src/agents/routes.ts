/**
 * `GET /api/opencode-config` and `GET /api/agent-config?client=opencode|claude-code|codex[&model=id]`.
 * The base URL is this router's own origin as the client reached it (wrangler dev, a custom domain).
 */
import { buildCatalog, type Catalog } from "../catalog/catalog.js";
import { liveConfig } from "../config/load.js";
import type { Handler } from "../context.js";
import { NO_SUCH_MODEL, badRequest, modelNotFound } from "../errors.js";
import { json } from "../http.js";
import { claudeCodeEnv, codexToml, opencodeConfig } from "./configs.js";

const CLIENTS = ["opencode", "claude-code", "codex"] as const;

export const opencodeConfigHandler: Handler = async (request, env) => {
  const catalog = await buildCatalog((await liveConfig(env)).config, env);
  return json(opencodeConfig(catalog, new URL(request.url).origin));
};

export const agentConfigHandler: Handler = async (request, env) => {
  const client = request.query.client;
  if (typeof client !== "string" || !(CLIENTS as readonly string[]).includes(client)) {
    throw badRequest(`query parameter client must be one of ${CLIENTS.join(", ")}`, "invalid_client", "client");
  }
  const origin = new URL(request.url).origin;
  const catalog = await buildCatalog((await liveConfig(env)).config, env);
  if (client === "opencode") return json(opencodeConfig(catalog, origin));
  const model = pickModel(catalog, request.query.model);
  const text = client === "codex" ? codexToml(catalog, origin, model) : claudeCodeEnv(catalog, origin, model);
  return new Response(text, { headers: { "content-type": client === "codex" ? "application/toml; charset=utf-8" : "text/plain; charset=utf-8" } });
};

/** The model asked for (composite id or alias), else the first one whose host is online. */
function pickModel(catalog: Catalog, wanted: unknown) {
  if (typeof wanted === "string" && wanted) {
    const found = catalog.models.find((m) => m.id === wanted);
    if (found) return found;
    const firstMember = [catalog.aliases[wanted] ?? []].flat()[0];
    const member = catalog.models.find((m) => m.id === firstMember);
    if (member) return { ...member, id: wanted };
    throw modelNotFound(NO_SUCH_MODEL);
  }
  return catalog.models.find((m) => m.status === "online") ?? catalog.models[0];
}
