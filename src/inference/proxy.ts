/**
 * Step 3 of the inference pipeline, and the entry point every surface calls: chat, completions, embeddings,
 * rerank, Anthropic messages and Responses from `/v1`, and `/api/chat` and the Arena's lanes from `/api`. The
 * candidates (candidates.ts) are tried in order by the one failover loop (upstream/failover.ts); the first host that
 * answers gets the client's body, serialised once (host-body.ts) with only `model` changed, so parameters the router
 * does not know still pass. Its answer goes to answer.ts. No resend once a byte went to the client (a chat stream that
 * breaks may be continued exactly: src/continuation/).
 */
import { anthropicToChat } from "../anthropic/to-chat.js";
import { continuationPlan } from "../continuation/plan.js";
import type { Env } from "../env.js";
import { RouterError } from "../errors.js";
import type { RouterRequest } from "../request-context.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { attemptPlan, fleet, prefixChain, type Attempt, type PromptApi, type Ranking } from "../routing/index.js";
import { countedInFlight, type HostRequestActivity } from "../upstream/activity.js";
import { hostErrorToRouterError, notLoaded } from "../upstream/errors.js";
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
 * Endpoints where llama-server honours `id_slot` (measured: chat, completions and Responses do; its Anthropic
 * messages endpoint drops the field).
 */
const PINNABLE = new Set(["/v1/chat/completions", "/v1/completions", "/v1/responses"]);

const CHAT = "/v1/chat/completions";

/**
 * The body a host gets for `hostPath`: non-streaming chat and completions are asked as a stream and assembled; a
 * `/v1/messages` request that could be continued is asked of the chat endpoint (messagesViaChat). The conversation's
 * prefix hashes are taken here, while the parsed body still exists.
 */
export function forHost(raw: Record<string, unknown>, hostPath: string): HostBody {
  const chat = hostPath === "/v1/messages" ? messagesViaChat(raw) : undefined;
  if (chat) return { ...forHost(chat, CHAT), answerAs: "anthropic" };
  const api = PROMPT_APIS.get(hostPath);
  const pinnable = PINNABLE.has(hostPath) && raw.id_slot === undefined;
  return { ...hostBody(raw, raw.stream !== true && assemblerFor(hostPath) !== undefined, hostPath), ...(api && { chain: prefixChain(api, raw) }), pinnable };
}

/**
 * A `/v1/messages` request as the chat request llama-server makes of it (anthropic/to-chat.ts), when that chat answer
 * could be continued: the chat stream carries the token ids and counts Anthropic's does not. A streamed one asks for
 * the final usage and per-token timings (the output tokens and the prompt counts of Anthropic's events); a
 * non-streaming one is assembled from a stream like any chat (host-body.ts). Not with `stop_sequences`: a chat stream
 * does not say which sequence stopped it, and Anthropic's `stop_sequence` must.
 */
function messagesViaChat(raw: Record<string, unknown>): Record<string, unknown> | undefined {
  if (Array.isArray(raw.stop_sequences) ? raw.stop_sequences.length > 0 : raw.stop_sequences != null) return undefined;
  const converted = { model: raw.model, ...anthropicToChat(raw) };
  const streamed = raw.stream === true;
  const chat = streamed ? { ...converted, stream_options: { include_usage: true }, timings_per_token: true } : converted;
  return continuationPlan(chat, CHAT, !streamed) ? chat : undefined;
}

/** Resolves `model`, and forwards the body to the first candidate that answers. */
export async function proxyInference(request: RouterRequest, env: Env, body: HostBody, model: string, options: ProxyOptions): Promise<Response> {
  if (options.purpose) request.log.purpose = options.purpose;
  const { routes, ranking, continuation } = await candidatesFor(request, env, model, body.chain, body.pinnable);
  return forward(request, env, body, routes, ranking, options, continuation);
}

async function forward(request: RouterRequest, env: Env, body: HostBody, candidates: ModelRoute[], ranking: Ranking<ModelRoute>, options: ProxyOptions, continuation = true): Promise<Response> {
  const hostPath = body.answerAs ? CHAT : options.hostPath;
  // A stream that can be continued asks its host for token ids and counts (continuation/).
  const plan = continuation ? body.continuation : undefined;
  // A replicas pool is where the fleet router chose; an ordered chain is tried in config order.
  const balanced = ranking.policy === "replicas" && candidates.length > 1;
  // A replicas member in router mode may be asked not to load the model (routing/plan.ts); a chain's order is a
  // quality choice, so its members load what they must.
  const attempts = balanced ? attemptPlan(candidates, ranking) : candidates.map((route) => ({ route, onlyIfLoaded: false }));
  // Counted in flight from here until the answer has ended: the status page and the fleet router use it.
  return firstThatAnswers(request, attempts.map((p) => p.route), (route, i) => countedInFlight(route.provider, async (activity) => {
    const attempt = fleet.begin(ranking, route, Date.now());
    if (balanced) request.log.routing = { reason: attempt.reason, predictedCached: attempt.predictedCachedTokens, ...(attempt.pinned && { slot: attempt.slot }) };
    try {
      return await attemptOn(route, activity, attempt, attempts[i]!.onlyIfLoaded);
    } catch (err) {
      fleet.end(attempt, { ok: false }, Date.now());
      if (err instanceof RouterError && err.failover === "host_down") fleet.hostDown(route.provider);
      throw err;
    }
  }));

  async function attemptOn(route: ModelRoute, activity: HostRequestActivity, attempt: Attempt, onlyIfLoaded: boolean): Promise<Response> {
    const hostResponse = await callHost(route.provider, env, {
      method: "POST",
      path: onlyIfLoaded ? `${hostPath}?autoload=false` : hostPath,
      clientHeaders: request.headers,
      body: withModel(body, route.upstream, plan?.hostFields, attempt.pinned ? attempt.slot : undefined),
      signal: request.signal,
    });
    request.log.ttfbMs = Date.now() - request.startedAt;
    activity.answered();
    if (attempt.loads && hostResponse.ok) fleet.loaded(attempt, Date.now() - attempt.startedAt);
    if (!hostResponse.ok) {
      const error = await hostErrorToRouterError(route.provider.id, hostResponse);
      const refusal = onlyIfLoaded ? notLoaded(error) : undefined;
      if (refusal) fleet.signals.noteResidency(route.provider, route.upstream, "unloaded", Date.now());
      throw refusal ?? error;
    }
    return answer(request, route, hostResponse, {
      hostPath, activity, attempt, pooled: balanced, assembled: body.assembled, readByScript: options.readByScript ?? false, answerAs: body.answerAs,
      ...(plan && { continuation: { env, candidates, ranking, body, plan } }),
    });
  }
}
