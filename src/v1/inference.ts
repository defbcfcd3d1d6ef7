/**
 * The one inference path (DESIGN §2, C3): chat, completions, embeddings, rerank, Anthropic messages, Responses all
 * go through here. The body is validated loosely (only what the router reads), the model resolved to a host, and
 * the ORIGINAL JSON forwarded with only `model` changed, so parameters the router does not know still pass.
 * Answers come back with the composite id in every `model` member; streams are relayed chunk by chunk.
 */
import * as z from "zod";
import { liveConfig } from "../config/load.js";
import type { Handler, RouterRequest } from "../context.js";
import { writeLog } from "../context.js";
import type { Env } from "../env.js";
import { badUpstream, dialectFor, errorPayload } from "../errors.js";
import { AssembleTransform, ChatCompletionAssembler, TextCompletionAssembler, type Assembler } from "../stream/assemble.js";
import { json, maxBodyBytes, readJsonBody } from "../http.js";
import { orderForSession, sessionTag } from "../resolver/affinity.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { ModelRewriter } from "../stream/model-rewrite.js";
import { errorEvent, relay } from "../stream/relay.js";
import { hostErrorToRouterError } from "../upstream/errors.js";
import { callHost } from "../upstream/fetch.js";
import { firstThatAnswers } from "../upstream/failover.js";
import { healthyFirst } from "../upstream/recent-failures.js";
import { clientResponseHeaders } from "../upstream/headers.js";
import { resolveRequestModel } from "./resolve-request.js";
import { sessionKey } from "./session.js";

/** Above this, a token limit is a mistake or an attack, not a request (no llama-server slot is this large). */
const MAX_TOKENS_CAP = 10_000_000;
const tokenLimit = z.union([z.literal(-1), z.number().int().min(1).max(MAX_TOKENS_CAP)]).nullable().optional();

/** Only what the router reads or must keep sane; everything else passes through untouched. */
export const InferenceBodySchema = z.looseObject({
  model: z
    .string()
    .min(1, "model must not be empty")
    .max(512)
    .regex(/^[^\u0000-\u001f\u007f]+$/, "model must not contain control characters"),
  stream: z.boolean().optional(),
  messages: z.array(z.unknown()).optional(),
  max_tokens: tokenLimit,
  max_completion_tokens: tokenLimit,
  max_output_tokens: tokenLimit,
});

/**
 * Non-streaming requests to these endpoints are sent to the host as streams and assembled here, so a client that
 * disconnects cancels the generation (see stream/assemble.ts). Others (Anthropic, Responses) pass through as JSON.
 */
const ASSEMBLED = new Map<string, () => Assembler>([
  ["/v1/chat/completions", () => new ChatCompletionAssembler()],
  ["/v1/completions", () => new TextCompletionAssembler()],
]);

/** A route on the /v1 surface and the host endpoint it is forwarded to (the allowlist, DESIGN §7). */
export function inferenceHandler(hostPath: string): Handler {
  return async (request, env) => {
    const { raw, body } = await readJsonBody(request, InferenceBodySchema, maxBodyBytes(env.ROUTER_MAX_BODY_BYTES));
    return proxyInference(request, env, raw, body.model, { hostPath });
  };
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
 * Resolves `model`, orders an alias pool for the request's agent session, and forwards `raw` (with only `model`
 * replaced) to the first candidate that answers. Every inference request of both surfaces goes through here.
 */
export async function proxyInference(request: RouterRequest, env: Env, raw: Record<string, unknown>, model: string, options: ProxyOptions): Promise<Response> {
  if (options.purpose) request.log.purpose = options.purpose;
  const config = (await liveConfig(env)).config;
  const session = sessionKey(request.headers);
  if (session) request.log.session = sessionTag(session);
  const candidates = healthyFirst(orderForSession(await resolveRequestModel(config, model, env), session));
  return forward(request, env, raw, candidates, options);
}

/** The first candidate that answers gets the request; no resend once bytes went to the client (see failover.ts). */
async function forward(request: RouterRequest, env: Env, raw: Record<string, unknown>, candidates: ModelRoute[], options: ProxyOptions): Promise<Response> {
  const { hostPath } = options;
  const assemble = raw.stream !== true && ASSEMBLED.has(hostPath);
  return firstThatAnswers(request, candidates, async (route) => {
    const hostResponse = await callHost(route.provider, env, {
      method: "POST",
      path: hostPath,
      clientHeaders: request.headers,
      body: JSON.stringify(assemble ? { ...raw, model: route.upstream, stream: true, stream_options: { include_usage: true } } : { ...raw, model: route.upstream }),
      signal: request.signal,
    });
    request.log.ttfbMs = Date.now() - request.startedAt;
    if (!hostResponse.ok) throw await hostErrorToRouterError(route.provider.id, hostResponse);
    return answer(request, route, hostResponse, assemble ? ASSEMBLED.get(hostPath) : undefined, options.readByScript);
  });
}

async function answer(request: RouterRequest, route: ModelRoute, hostResponse: Response, assembler?: () => Assembler, readByScript = false): Promise<Response> {
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
      errorEvent: assembler ? (error) => JSON.stringify(errorPayload(error)) : errorEvent(dialectFor(new URL(request.url).pathname)),
      onEnd: (outcome) => {
        request.log.outcome = outcome.kind;
        request.log.bytes = outcome.bytes;
        if (outcome.error) request.log.error = outcome.error.message;
        logTokens(request, assembling ? assembling.assembler.usage : usageInTail(outcome.tail));
        writeLog(request);
      },
    });
    return new Response(body, { status: hostResponse.status, headers });
  }
  return jsonAnswer(request, route, hostResponse, headers);
}

/**
 * The usage a stream reported in its last events (OpenAI's usage chunk, Responses' `response.completed`, Anthropic's
 * `message_delta`), read once at the end from the relay's last chunks; the stream itself is never parsed.
 */
function usageInTail(tail: Uint8Array[]): unknown {
  const decoder = new TextDecoder();
  const text = tail.map((chunk) => decoder.decode(chunk, { stream: true })).join("") + decoder.decode();
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line.startsWith("data:") || !line.includes('"usage"')) continue;
    try {
      const event = JSON.parse(line.slice(5)) as { usage?: unknown; response?: { usage?: unknown } };
      return event.usage ?? event.response?.usage;
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

async function jsonAnswer(request: RouterRequest, route: ModelRoute, hostResponse: Response, headers: Headers): Promise<Response> {
  let body: unknown;
  try {
    body = JSON.parse(await hostResponse.text());
  } catch (err) {
    throw badUpstream(`provider "${route.provider.id}" answered with a body that is not JSON`, err);
  }
  if (typeof body === "object" && body !== null && "error" in body) {
    // A 200 that carries an error object is an error.
    throw await hostErrorToRouterError(route.provider.id, new Response(JSON.stringify(body), { status: 502 }));
  }
  // A whole JSON answer names its model at the top (chat, completion, embeddings, rerank, Anthropic message,
  // Responses object). Only that member is set: a tool's `input` object (Anthropic) may have a `model` of its own.
  if (typeof body === "object" && body !== null && typeof (body as { model?: unknown }).model === "string") (body as { model: string }).model = route.id;
  logTokens(request, (body as { usage?: unknown }).usage);
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

