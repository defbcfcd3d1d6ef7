/** boocode-router: a stateless fetch handler. All routing lives in ./router.ts. */
import type { Env } from "./env.js";
import { errorResponse, toRouterError } from "./errors.js";
import { logEvent } from "./log.js";
import { router } from "./router.js";
import { learnSecrets } from "./secrets.js";

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    try {
      return await router.fetch(request, env, ctx);
    } catch (err) {
      // Only reached if the router's own error path failed; still answer in the one error shape, and log redacted.
      learnSecrets(env);
      logEvent("error", "unhandled", err);
      return errorResponse(toRouterError(err));
    }
  },
} satisfies ExportedHandler<Env>;
