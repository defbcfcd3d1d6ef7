/**
 * `GET /api/opencode-config` and
 * `GET /api/agent-config?client=opencode|claude-code|codex[&model=id][&key_env=NAME][&format=json]`.
 * The base URL is this router's own origin as the client reached it (wrangler dev, a custom domain). Without
 * `format=json` Claude Code gets env lines and Codex a TOML block, for pasting; with it, the structured settings
 * that `npm run agent-config` merges into the agent's own file.
 */
import { authMode } from "../auth.js";
import { buildCatalog, type Catalog } from "../catalog/catalog.js";
import { aliasMembers } from "../config/aliases.js";
import { liveConfig } from "../config/load.js";
import type { Handler } from "../request-context.js";
import type { Env } from "../env.js";
import { NO_SUCH_MODEL, badRequest, modelNotFound } from "../errors.js";
import { json } from "../http.js";
import { claudeCodeEnv, claudeCodeSettings, codexConfig, codexToml, ENV_NAME, KEY_ENV, type KeyOptions, opencodeConfig } from "./configs.js";

const CLIENTS = ["opencode", "claude-code", "codex"] as const;
const FORMATS = ["text", "json"] as const;

export const opencodeConfigHandler: Handler = async (request, env) => {
  const keys = keyOptions(request.query.key_env, env);
  const catalog = await buildCatalog((await liveConfig(env)).config, env);
  return json(opencodeConfig(catalog, new URL(request.url).origin, keys));
};

export const agentConfigHandler: Handler = async (request, env) => {
  const client = request.query.client;
  if (typeof client !== "string" || !(CLIENTS as readonly string[]).includes(client)) {
    throw badRequest(`query parameter client must be one of ${CLIENTS.join(", ")}`, "invalid_client", "client");
  }
  const format = request.query.format ?? "text";
  if (typeof format !== "string" || !(FORMATS as readonly string[]).includes(format)) {
    throw badRequest(`query parameter format must be one of ${FORMATS.join(", ")}`, "invalid_format", "format");
  }
  const keys = keyOptions(request.query.key_env, env);
  const origin = new URL(request.url).origin;
  const catalog = await buildCatalog((await liveConfig(env)).config, env);
  if (client === "opencode") return json(opencodeConfig(catalog, origin, keys));
  const model = pickModel(catalog, request.query.model);
  if (format === "json") return json(client === "codex" ? codexConfig(origin, model, keys) : claudeCodeSettings(origin, model, keys));
  const text = client === "codex" ? codexToml(catalog, origin, model, keys) : claudeCodeEnv(catalog, origin, model, keys);
  return new Response(text, { headers: { "content-type": client === "codex" ? "application/toml; charset=utf-8" : "text/plain; charset=utf-8" } });
};

/** `key_env` renames the variable the configs read the key from; it lands in shell text, so only a plain name. */
function keyOptions(wanted: unknown, env: Env): KeyOptions {
  const keyEnv = wanted ?? KEY_ENV;
  if (typeof keyEnv !== "string" || !ENV_NAME.test(keyEnv)) {
    throw badRequest("query parameter key_env must be an environment variable name (letters, digits, _; not starting with a digit)", "invalid_key_env", "key_env");
  }
  return { keyEnv, keyOptional: authMode(env) === "off" };
}

/** The model asked for (composite id or alias), else the first one whose host is online. */
function pickModel(catalog: Catalog, wanted: unknown) {
  if (typeof wanted === "string" && wanted) {
    const found = catalog.models.find((m) => m.id === wanted);
    if (found) return found;
    const target = catalog.aliases[wanted];
    const firstMember = target === undefined ? undefined : aliasMembers(target).members[0];
    const member = catalog.models.find((m) => m.id === firstMember);
    if (member) return { ...member, id: wanted };
    throw modelNotFound(NO_SUCH_MODEL);
  }
  return catalog.models.find((m) => m.status === "online") ?? catalog.models[0];
}
