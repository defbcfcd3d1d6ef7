/**
 * Per-model host calls of the app API that are not inference (`/apply-template`, `/tokenize`, `/detokenize`): the
 * model is resolved by the one resolver and ordered for the request's session exactly as inference is, then asked
 * of the first candidate that answers. So a count comes from the host, and the tokenizer, that would serve the chat.
 */
import { liveConfig } from "../config/load.js";
import type { RouterRequest } from "../context.js";
import type { Env } from "../env.js";
import { RouterError, badUpstream } from "../errors.js";
import { orderForSession } from "../resolver/affinity.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { hostErrorToRouterError } from "../upstream/errors.js";
import { callHost } from "../upstream/fetch.js";
import { resolveRequestModel } from "../v1/resolve-request.js";
import { sessionKey } from "../v1/session.js";

export interface ModelHost {
  route: ModelRoute;
  /**
   * POSTs `body` with `model` set to the host's name for it (a router-mode host routes by it, a single-model host
   * ignores it); answers the host's JSON, or throws its error in the router's shape.
   */
  post(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/**
 * Runs `ask` against the model's host; moves to the next pool member only when a host failed before answering or
 * answered 5xx, as inference does. A 4xx (the host's verdict on the request) is final.
 */
export async function withModelHost<T>(request: RouterRequest, env: Env, model: string, ask: (host: ModelHost) => Promise<T>): Promise<{ route: ModelRoute; value: T }> {
  const config = (await liveConfig(env)).config;
  const candidates = orderForSession(await resolveRequestModel(config, model, env), sessionKey(request.headers));
  let lastError: RouterError | undefined;
  for (const route of candidates) {
    request.log.route = route.id;
    try {
      return { route, value: await ask(modelHost(request, env, route)) };
    } catch (err) {
      if (!(err instanceof RouterError) || err.status < 500) throw err;
      lastError = err;
    }
  }
  throw lastError ?? new RouterError(503, "no host could serve this model", "service_unavailable_error", "no_available_host");
}

function modelHost(request: RouterRequest, env: Env, route: ModelRoute): ModelHost {
  return {
    route,
    async post(path, body) {
      const response = await callHost(route.provider, env, {
        method: "POST",
        path,
        clientHeaders: request.headers,
        body: JSON.stringify({ ...body, model: route.upstream }),
        signal: request.signal,
      });
      if (!response.ok) throw await hostErrorToRouterError(route.provider.id, response);
      let parsed: unknown;
      try {
        parsed = await response.json();
      } catch (err) {
        throw badUpstream(`provider "${route.provider.id}" answered ${path} with a body that is not JSON`, err);
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw badUpstream(`provider "${route.provider.id}" answered ${path} with something other than a JSON object`);
      }
      return parsed as Record<string, unknown>;
    },
  };
}
