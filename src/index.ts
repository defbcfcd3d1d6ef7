/** boocode-router: a stateless fetch handler (DESIGN §2). All routing lives in ./router.ts. */
import type { Env } from "./env.js";
import { errorResponse, toRouterError } from "./errors.js";
import { router } from "./router.js";

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    try {
      return await router.fetch(request, env, ctx);
    } catch (err) {
      // Only reached if the router's own error path failed; still answer in the one error shape.
      console.error(JSON.stringify({ level: "error", message: "unhandled", cause: String(err) }));
      return errorResponse(toRouterError(err));
    }
  },
} satisfies ExportedHandler<Env>;
