/** `GET /health` (no auth): liveness, which config is live and why, and the auth mode. Never a secret. */
import { authMode } from "./auth.js";
import { liveConfig } from "./config/load.js";
import type { Handler } from "./request-context.js";
import { toRouterError } from "./errors.js";
import { json } from "./http.js";
import { redactSecrets } from "./secrets.js";

export const healthHandler: Handler = async (_request, env) => {
  const auth = authMode(env);
  try {
    const live = await liveConfig(env);
    // kvError is already a public reason (src/config/load.ts); redaction is the second line, as for every answer.
    const error = live.kvError === undefined ? null : redactSecrets(live.kvError);
    return json({ status: "ok", config: { source: live.source, version: live.version, providers: live.config.providers.length, error }, auth });
  } catch (err) {
    return json({ status: "error", config: { source: null, version: null, error: toRouterError(err).message }, auth }, { status: 503 });
  }
};
