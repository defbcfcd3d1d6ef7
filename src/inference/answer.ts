/**
 * Step 4 of the inference pipeline: what the client gets back from the host that answered. A stream is relayed
 * event by event with `model` rewritten on bytes (stream/relay.ts, stream/model-rewrite.ts) and its end marker
 * checked; a non-streaming chat or completion was asked of the host as a stream and is assembled here, so a client
 * that leaves frees the slot (stream/assemble.ts); any other JSON answer is read with a bound and gets its top-level
 * `model` set. Every path ends in the request's one log line. See docs/architecture.md, "Invariants".
 */
import { AnthropicEvents } from "../anthropic/events.js";
import { AnthropicMessageAssembler } from "../anthropic/message.js";
import { Continuation, type ContinuationSetup } from "../continuation/continuation.js";
import { dialectFor, errorPayload } from "../errors.js";
import { json } from "../http.js";
import type { RouterRequest } from "../request-context.js";
import { writeLog } from "../request-context.js";
import type { ModelRoute } from "../resolver/resolve.js";
import { fleet, parseTimings, type Attempt } from "../routing/index.js";
import { ASSEMBLED_RELAY, AssembleTransform, ChatCompletionAssembler, TextCompletionAssembler, type Assembler } from "../stream/assemble.js";
import { ModelRewriter } from "../stream/model-rewrite.js";
import { errorEvent, relay } from "../stream/relay.js";
import { endCheckFor } from "../stream/stream-end.js";
import type { HostRequestActivity } from "../upstream/activity.js";
import { readHostJson } from "../upstream/answer-body.js";
import { errorInAnswer } from "../upstream/errors.js";
import { clientResponseHeaders } from "../upstream/headers.js";

/**
 * Non-streaming requests to these endpoints are sent to the host as streams and assembled here, so a client that
 * disconnects cancels the generation (see stream/assemble.ts). Others (Anthropic, Responses) pass through as JSON.
 */
const ASSEMBLERS = new Map<string, () => Assembler>([
  ["/v1/chat/completions", () => new ChatCompletionAssembler()],
  ["/v1/completions", () => new TextCompletionAssembler()],
]);

export const assemblerFor = (hostPath: string): (() => Assembler) | undefined => ASSEMBLERS.get(hostPath);

export interface AnswerOptions {
  hostPath: string;
  activity: HostRequestActivity;
  /** The fleet router's bookkeeping of this attempt. */
  attempt: Attempt;
  /** The fleet router chose among replicas: the route header then says why this one. */
  pooled: boolean;
  /** The request was asked of the host as a stream to be assembled (host-body.ts). */
  assembled: boolean;
  /** The answer's body is read by JavaScript in this isolate (an Arena lane), not sent to a client (see relay). */
  readByScript: boolean;
  /** The stream may be continued on another host if it breaks (continuation/); absent: it ends with an error event. */
  continuation?: ContinuationSetup;
  /** A `/v1/messages` request asked of the chat endpoint: the answer is written as Anthropic events or message (anthropic/). */
  answerAs?: "anthropic";
}

export async function answer(request: RouterRequest, route: ModelRoute, hostResponse: Response, options: AnswerOptions): Promise<Response> {
  const { hostPath, readByScript } = options;
  const assembler = !options.assembled ? undefined : options.answerAs === "anthropic" ? () => new AnthropicMessageAssembler() : assemblerFor(hostPath);
  const headers = clientResponseHeaders(hostResponse.headers);
  // The composite id first, always; for a replicas pool the fleet router's reason follows (`a/coder; cache=warm; queue=0`).
  headers.set("x-boocode-route", options.pooled ? options.attempt.reason : route.id);
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
    const dialect = dialectFor(new URL(request.url).pathname);
    const continuing = options.continuation && new Continuation(request, options.continuation, { route, activity: options.activity, attempt: options.attempt });
    // The Anthropic events carry the composite id themselves: the chat chunks' `model` is not rewritten for them.
    const translating = options.answerAs === "anthropic" && !assembling ? new AnthropicEvents(route.id) : undefined;
    const source = continuing?.transform ?? (assembling || translating ? undefined : new ModelRewriter(route.id));
    const last = assembling ?? translating;
    const body = relay(hostResponse.body, {
      transform: last ? (source ? chain(source, last) : last) : source,
      ...(assembling && ASSEMBLED_RELAY),
      resume: continuing?.resume,
      idleMs: route.provider.timeouts.idleMs,
      readByScript,
      // The assembled path checks the answer's end itself (stream/assemble.ts).
      endCheck: assembling ? undefined : endCheckFor(translating ? "/v1/messages" : hostPath),
      signal: request.signal,
      errorEvent: assembler ? (error) => JSON.stringify(errorPayload(error, dialect)) : errorEvent(dialect),
      onEnd: (outcome) => {
        // Normally the router set the status when the headers went out; a client gone before that never got them.
        request.log.status ??= outcome.kind === "cancelled" ? 499 : hostResponse.status;
        request.log.outcome = outcome.kind;
        request.log.bytes = outcome.bytes;
        if (outcome.error) request.log.error = outcome.error.message;
        const final = assembling ? { usage: assembling.assembler.usage, timings: assembling.assembler.timings } : translating ? translating.final : usageEventInTail(outcome.tail);
        logTokens(request, final?.usage);
        attemptEnded(request, options, final, outcome.kind === "complete");
        continuing?.ended(outcome.kind === "complete");
        writeLog(request);
      },
    });
    return new Response(body, { status: hostResponse.status, headers });
  }
  return jsonAnswer(request, route, hostResponse, headers, options);
}

/** Two relay transforms in a row (the continuation's source events, then the assembler). */
function chain(first: Transform, second: Transform): Transform {
  return {
    push: (chunk) => second.push(first.push(chunk)),
    flush: () => {
      const rest = second.push(first.flush());
      const last = second.flush();
      if (!rest.length) return last;
      if (!last.length) return rest;
      const out = new Uint8Array(rest.length + last.length);
      out.set(rest);
      out.set(last, rest.length);
      return out;
    },
  };
}

type Transform = { push(chunk: Uint8Array): Uint8Array; flush(): Uint8Array };

/**
 * The attempt is over: the status page's counters and the fleet router learn from the answer (its cached and
 * computed prompt tokens and prefill rate), and a pool's log line gets the cached tokens next to the prediction.
 */
function attemptEnded(request: RouterRequest, options: AnswerOptions, final: unknown, ok: boolean): void {
  options.activity.end(final);
  const timings = parseTimings(final);
  fleet.end(options.attempt, { ok, timings }, Date.now());
  const routing = request.log.routing as { actualCached?: number } | undefined;
  if (routing && timings) routing.actualCached = timings.cachedTokens;
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
async function jsonAnswer(request: RouterRequest, route: ModelRoute, hostResponse: Response, headers: Headers, options: AnswerOptions): Promise<Response> {
  const body = await readHostJson(route.provider.id, hostResponse, new URL(request.url).pathname);
  // A 200 that carries an error object is an error.
  if (typeof body === "object" && body !== null && "error" in body) throw errorInAnswer(route.provider.id, body);
  // A whole JSON answer names its model at the top (chat, completion, embeddings, rerank, Anthropic message,
  // Responses object). Only that member is set: a tool's `input` object (Anthropic) may have a `model` of its own.
  if (typeof body === "object" && body !== null && typeof (body as { model?: unknown }).model === "string") (body as { model: string }).model = route.id;
  logTokens(request, (body as { usage?: unknown }).usage);
  attemptEnded(request, options, body, true);
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

