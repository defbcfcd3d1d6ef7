/**
 * Step 3 of the inference pipeline, and the entry point every surface calls: chat, completions, embeddings,
 * rerank, Anthropic messages and Responses from `/v1`, and `/api/chat` and the Arena's lanes from `/api`. The
 * candidates (candidates.ts) are tried in order by the one failover loop (upstream/failover.ts); the first host that
 * answers gets the client's body, serialised once (host-body.ts) with only `model` changed, so parameters the router
 * does not know still pass. Its answer goes to answer.ts. No resend once a byte went to the client (a chat stream that
 * breaks may be continued exactly: src/continuation/).
 */
import type { Env } from "../env.js";
import type { RouterRequest } from "../request-context.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { fleet, prefixChain, type Attempt, type PromptApi, type Ranking } from "../routing/index.js";
import { countedInFlight, type HostRequestActivity } from "../upstream/activity.js";
import { hostErrorToRouterError } from "../upstream/errors.js";
import { firstThatAnswers } from "../upstream/failover.js";
import { callHost } from "../upstream/fetch.js";
import { answer, assemblerFor } from "./answer.js";
import { candidatesFor } from "./candidates.js";
import { hostBody, withModel, type HostBody } from "./host-body.js";

export interface ProxyOptions {
  /** The host endpoint, e.g. `/v1/chat/completions`: one of the allowlisted routes of the route table. */
  hostPath: string;
  /** Why the app sent it (`chat | compaction | task | arena`); goes into the log line. */
  purpose?: string;
  /** The answer's body is read by JavaScript in this isolate (an Arena lane), not sent to a client (see relay). */
  readByScript?: boolean;
}

/** Which prompt shape each host endpoint has, for the conversation's prefix hashes; none for embeddings and rerank. */
const PROMPT_APIS = new Map<string, PromptApi>([
  ["/v1/chat/completions", "chat"],
  ["/v1/completions", "completions"],
  ["/v1/messages", "messages"],
  ["/v1/responses", "responses"],
]);

/**
 * The body a host gets for `hostPath`: non-streaming chat and completions are asked as a stream and assembled. The
 * conversation's prefix hashes are taken here, while the parsed body still exists.
 */
export function forHost(raw: Record<string, unknown>, hostPath: string): HostBody {
  const api = PROMPT_APIS.get(hostPath);
  return { ...hostBody(raw, raw.stream !== true && assemblerFor(hostPath) !== undefined, hostPath), ...(api && { chain: prefixChain(api, raw) }) };
}

/** Resolves `model`, and forwards the body to the first candidate that answers. */
export async function proxyInference(request: RouterRequest, env: Env, body: HostBody, model: string, options: ProxyOptions): Promise<Response> {
  if (options.purpose) request.log.purpose = options.purpose;
  const { routes, ranking, continuation } = await candidatesFor(request, env, model, body.chain);
  return forward(request, env, body, routes, ranking, options, continuation);
}

async function forward(request: RouterRequest, env: Env, body: HostBody, candidates: ModelRoute[], ranking: Ranking<ModelRoute>, options: ProxyOptions, continuation = true): Promise<Response> {
  const { hostPath } = options;
  // A stream that can be continued asks its host for token ids and counts (continuation/).
  const plan = continuation ? body.continuation : undefined;
  // A replicas pool is where the fleet router chose; an ordered chain is tried in config order.
  const balanced = ranking.policy === "replicas" && candidates.length > 1;
  // Counted in flight from here until the answer has ended: the status page and the fleet router use it.
  return firstThatAnswers(request, candidates, (route) => countedInFlight(route.provider, async (activity) => {
    const attempt = fleet.begin(ranking, route, Date.now());
    if (balanced) request.log.routing = { reason: attempt.reason, predictedCached: attempt.predictedCachedTokens };
    try {
      return await attemptOn(route, activity, attempt);
    } catch (err) {
      fleet.end(attempt, { ok: false }, Date.now());
      throw err;
    }
  }));

  async function attemptOn(route: ModelRoute, activity: HostRequestActivity, attempt: Attempt): Promise<Response> {
    const hostResponse = await callHost(route.provider, env, {
      method: "POST",
      path: hostPath,
      clientHeaders: request.headers,
      body: withModel(body, route.upstream, plan?.hostFields),
      signal: request.signal,
    });
    request.log.ttfbMs = Date.now() - request.startedAt;
    activity.answered();
    if (!hostResponse.ok) throw await hostErrorToRouterError(route.provider.id, hostResponse);
    return answer(request, route, hostResponse, {
      hostPath, activity, attempt, pooled: balanced, assembled: body.assembled, readByScript: options.readByScript ?? false,
      ...(plan && { continuation: { env, candidates, ranking, body, plan } }),
    });
  }
}
