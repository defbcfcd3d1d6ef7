/**
 * Per-model host calls of the app API that are not inference (`/apply-template`, `/tokenize`, `/detokenize`): the
 * model is resolved by the one resolver and ordered for the request's session exactly as inference is, then asked
 * of the first candidate that answers. So a count comes from the host, and the tokenizer, that would serve the chat.
 */
import type { Env } from "../env.js";
import { badUpstream } from "../errors.js";
import type { RouterRequest } from "../request-context.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { readHostJson } from "../upstream/answer-body.js";
import { hostErrorToRouterError } from "../upstream/errors.js";
import { firstThatAnswers } from "../upstream/failover.js";
import { callHost } from "../upstream/fetch.js";
import { candidatesFor } from "./candidates.js";

export interface ModelHost {
  route: ModelRoute;
  /**
   * POSTs `body` with `model` set to the host's name for it (a router-mode host routes by it, a single-model host
   * ignores it); answers the host's JSON, or throws its error in the router's shape.
   */
  post(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/**
 * Runs `ask` against the model's host, with the same candidates and failover as inference (failover.ts): a host that
 * failed before answering passes to the next pool member; the host's own verdict on the request is final.
 */
export async function withModelHost<T>(request: RouterRequest, env: Env, model: string, ask: (host: ModelHost) => Promise<T>): Promise<{ route: ModelRoute; value: T }> {
  return firstThatAnswers(request, (await candidatesFor(request, env, model)).routes, async (route) => ({ route, value: await ask(modelHost(request, env, route)) }));
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
      const parsed = await readHostJson(route.provider.id, response, path);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw badUpstream(`provider "${route.provider.id}" answered ${path} with something other than a JSON object`);
      }
      return parsed as Record<string, unknown>;
    },
  };
}
