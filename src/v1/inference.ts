/**
 * The one inference path: chat, completions, embeddings, rerank, Anthropic messages, Responses all go through here.
 * The body is validated loosely (request-schemas.ts: what the router reads and what each endpoint cannot do
 * without), the model resolved to a host, and the client's JSON forwarded with only `model` changed (serialised
 * once, see host-body.ts), so parameters the router does not know still pass.
 * Answers come back with the composite id in every `model` member; streams are relayed chunk by chunk.
 */
import { liveConfig } from "../config/load.js";
import type { Handler, RouterRequest } from "../context.js";
import { writeLog } from "../context.js";
import type { Env } from "../env.js";
import { dialectFor, errorPayload } from "../errors.js";
import { AssembleTransform, ChatCompletionAssembler, TextCompletionAssembler, type Assembler } from "../stream/assemble.js";
import { json, maxBodyBytes, readJsonBody } from "../http.js";
import { orderForSession, sessionTag } from "../resolver/affinity.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { ModelRewriter } from "../stream/model-rewrite.js";
import { errorEvent, relay } from "../stream/relay.js";
import { endCheckFor } from "../stream/stream-end.js";
import { readHostJson } from "../upstream/answer-body.js";
import { errorInAnswer, hostErrorToRouterError } from "../upstream/errors.js";
import { countedInFlight, type HostRequestActivity } from "../upstream/activity.js";
import { callHost } from "../upstream/fetch.js";
import { firstThatAnswers } from "../upstream/failover.js";
import { healthyFirst } from "../upstream/recent-failures.js";
import { clientResponseHeaders } from "../upstream/headers.js";
import { bodySchemaFor } from "./request-schemas.js";
import { resolveRequestModel } from "./resolve-request.js";
import { hostBody, withModel, type HostBody } from "./host-body.js";
import { sessionKey } from "./session.js";

/** Re-exported for the app API's bodies, which extend it. */
export { InferenceBodySchema } from "./request-schemas.js";

/**
 * Non-streaming requests to these endpoints are sent to the host as streams and assembled here, so a client that
 * disconnects cancels the generation (see stream/assemble.ts). Others (Anthropic, Responses) pass through as JSON.
 */
const ASSEMBLED = new Map<string, () => Assembler>([
  ["/v1/chat/completions", () => new ChatCompletionAssembler()],
  ["/v1/completions", () => new TextCompletionAssembler()],
]);

/** A route on the /v1 surface and the host endpoint it is forwarded to (the allowlist of host endpoints). */
export function inferenceHandler(hostPath: string): Handler {
  return async (request, env) => {
    const { model, forward } = await readInference(request, env, hostPath);
    return proxyInference(request, env, forward, model, { hostPath });
  };
}

/** Reads and checks the body and serialises it for the host; the parsed object does not outlive this call. */
async function readInference(request: RouterRequest, env: Env, hostPath: string): Promise<{ model: string; forward: HostBody }> {
  const { raw, body } = await readJsonBody(request, bodySchemaFor(hostPath), maxBodyBytes(env.ROUTER_MAX_BODY_BYTES));
  return { model: body.model, forward: forHost(raw, hostPath) };
}

/** The body a host gets for `hostPath`: non-streaming chat and completions are assembled from a stream. */
export function forHost(raw: Record<string, unknown>, hostPath: string): HostBody {
  return hostBody(raw, raw.stream !== true && ASSEMBLED.has(hostPath));
}

export interface ProxyOptions {
  /** The host endpoint, e.g. `/v1/chat/completions`. */
  hostPath: string;
  /** Why the app sent it (`chat | compaction | task | arena`); goes into the log line. */
  purpose?: string;
  /** The answer's body is read by JavaScript in this isolate (an Arena lane), not sent to a client (see relay). */
  readByScript?: boolean;
}

/**
 * Resolves `model`, orders an alias pool for the request's agent session, and forwards the body (with only `model`
 * replaced) to the first candidate that answers. Every inference request of both surfaces goes through here.
 */
export async function proxyInference(request: RouterRequest, env: Env, body: HostBody, model: string, options: ProxyOptions): Promise<Response> {
  if (options.purpose) request.log.purpose = options.purpose;
  const config = (await liveConfig(env)).config;
  const session = sessionKey(request.headers);
  if (session) request.log.session = sessionTag(session);
  const candidates = healthyFirst(orderForSession(await resolveRequestModel(config, model, env), session));
  return forward(request, env, body, candidates, options);
}

/** The first candidate that answers gets the request; no resend once bytes went to the client (see failover.ts). */
async function forward(request: RouterRequest, env: Env, body: HostBody, candidates: ModelRoute[], options: ProxyOptions): Promise<Response> {
  const { hostPath } = options;
  // Counted in flight from here until the answer has ended: the status page shows it.
  return firstThatAnswers(request, candidates, (route) => countedInFlight(route.provider, async (activity) => {
    const hostResponse = await callHost(route.provider, env, {
      method: "POST",
      path: hostPath,
      clientHeaders: request.headers,
      body: withModel(body, route.upstream),
      signal: request.signal,
    });
    request.log.ttfbMs = Date.now() - request.startedAt;
    activity.answered();
    if (!hostResponse.ok) throw await hostErrorToRouterError(route.provider.id, hostResponse);
    return answer(request, route, hostResponse, hostPath, activity, body.assembled ? ASSEMBLED.get(hostPath) : undefined, options.readByScript);
  }));
}

async function answer(request: RouterRequest, route: ModelRoute, hostResponse: Response, hostPath: string, activity: HostRequestActivity, assembler?: () => Assembler, readByScript = false): Promise<Response> {
  const headers = clientResponseHeaders(hostResponse.headers);
  headers.set("x-boocode-route", route.id);
  const isStream = (headers.get("content-type") ?? "").includes("text/event-stream");
  if (isStream && hostResponse.body) {
    request.logDeferred = true;
    if (assembler) {
      headers.set("content-type", "application/json");
      // No compression on the way out: a compressor holds the heartbeat spaces back, and without those writes a
      // client that left is never noticed (seen with wrangler dev, which compresses JSON like Cloudflare's edge).
      headers.set("content-encoding", "identity");
      headers.set("cache-control", "no-store, no-transform");
    }
    const assembling = assembler ? new AssembleTransform(assembler(), route.id) : undefined;
    const body = relay(hostResponse.body, {
      transform: assembling ?? new ModelRewriter(route.id),
      idleMs: route.provider.timeouts.idleMs,
      readByScript,
      // The assembled path checks the answer's end itself (stream/assemble.ts).
      endCheck: assembling ? undefined : endCheckFor(hostPath),
      signal: request.signal,
      errorEvent: assembler ? (error) => JSON.stringify(errorPayload(error)) : errorEvent(dialectFor(new URL(request.url).pathname)),
      onEnd: (outcome) => {
        // Normally the router set the status when the headers went out; a client gone before that never got them.
        request.log.status ??= outcome.kind === "cancelled" ? 499 : hostResponse.status;
        request.log.outcome = outcome.kind;
        request.log.bytes = outcome.bytes;
        if (outcome.error) request.log.error = outcome.error.message;
        const final = assembling ? { usage: assembling.assembler.usage } : usageEventInTail(outcome.tail);
        logTokens(request, final?.usage);
        activity.end(final);
        writeLog(request);
      },
    });
    return new Response(body, { status: hostResponse.status, headers });
  }
  return jsonAnswer(request, route, hostResponse, headers, activity);
}

/**
 * The usage a stream reported in its last events (OpenAI's usage chunk, Responses' `response.completed`, Anthropic's
 * `message_delta`) with llama-server's `timings` beside it, read once at the end from the relay's last chunks; the
 * stream itself is never parsed.
 */
function usageEventInTail(tail: Uint8Array[]): { usage: unknown; timings: unknown } | undefined {
  const decoder = new TextDecoder();
  const text = tail.map((chunk) => decoder.decode(chunk, { stream: true })).join("") + decoder.decode();
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line.startsWith("data:") || !line.includes('"usage"')) continue;
    try {
      const event = JSON.parse(line.slice(5)) as { usage?: unknown; response?: { usage?: unknown }; timings?: unknown };
      return { usage: event.usage ?? event.response?.usage, timings: event.timings };
    } catch {
      return undefined; // the event began in an earlier chunk than the tail holds
    }
  }
  return undefined;
}

/** Token counts for the log line, when the host reported them. */
function logTokens(request: RouterRequest, usage: unknown): void {
  const u = usage as { prompt_tokens?: unknown; completion_tokens?: unknown; input_tokens?: unknown; output_tokens?: unknown } | undefined;
  const prompt = u?.prompt_tokens ?? u?.input_tokens;
  const completion = u?.completion_tokens ?? u?.output_tokens;
  const tokens = { ...(typeof prompt === "number" && { prompt }), ...(typeof completion === "number" && { completion }) };
  if (Object.keys(tokens).length) request.log.tokens = tokens;
}

/**
 * A whole JSON answer, read with a bound. What goes wrong here happened after the host did the work (a generation
 * may be done), so it is reported, not regenerated on another member: none of these errors is marked for failover.
 */
async function jsonAnswer(request: RouterRequest, route: ModelRoute, hostResponse: Response, headers: Headers, activity: HostRequestActivity): Promise<Response> {
  const body = await readHostJson(route.provider.id, hostResponse, new URL(request.url).pathname);
  // A 200 that carries an error object is an error.
  if (typeof body === "object" && body !== null && "error" in body) throw errorInAnswer(route.provider.id, body);
  // A whole JSON answer names its model at the top (chat, completion, embeddings, rerank, Anthropic message,
  // Responses object). Only that member is set: a tool's `input` object (Anthropic) may have a `model` of its own.
  if (typeof body === "object" && body !== null && typeof (body as { model?: unknown }).model === "string") (body as { model: string }).model = route.id;
  logTokens(request, (body as { usage?: unknown }).usage);
  activity.end(body);
  fillOpenAiGaps(body);
  return json(body, { status: hostResponse.status, headers });
}

/**
 * llama-server omits `choices[].logprobs` and `choices[].message.refusal` in non-streaming chat; OpenAI's schema
 * requires both keys (nullable).
 */
function fillOpenAiGaps(body: unknown): void {
  const choices = (body as { choices?: unknown })?.choices;
  if (!Array.isArray(choices)) return;
  for (const choice of choices) {
    if (!choice || typeof choice !== "object") continue;
    if (!("logprobs" in choice)) choice.logprobs = null;
    const message = (choice as { message?: unknown }).message;
    if (message && typeof message === "object" && !("refusal" in message)) (message as { refusal: null }).refusal = null;
  }
}

