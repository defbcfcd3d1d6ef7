/** `GET /health` (no auth): liveness, which config is live and why, and the auth mode. Never a secret. */
import { authMode } from "./auth.js";
import { liveConfig } from "./config/load.js";
import type { Handler } from "./context.js";
import { toRouterError } from "./errors.js";
import { json } from "./http.js";

export const healthHandler: Handler = async (_request, env) => {
  const auth = authMode(env);
  try {
    const live = await liveConfig(env);
    return json({
      status: "ok",
      config: { source: live.source, version: live.version, providers: live.config.providers.length, error: live.kvError ?? null },
      auth,
    });
  } catch (err) {
    return json({ status: "error", config: { source: null, version: null, error: toRouterError(err).message }, auth }, { status: 503 });
  }
};
