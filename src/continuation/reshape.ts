/**
 * The continuation host's `/completion` stream, reshaped into the `chat.completion.chunk`s the client was reading:
 * the first host's `id`, `created` and `system_fingerprint`, the composite `model`, one delta per chunk with text, ONE
 * finish chunk, the usage chunk if there was to be one (prompt tokens as the first host counted them, completion
 * tokens of both hosts), the answer's `timings` where llama-server puts them, then `data: [DONE]`. The key order is
 * llama-server's, so a client sees the same shapes before and after the join. This runs only after a break, so it
 * parses each event (docs/architecture.md, "What a stream costs": the relayed stream itself is never parsed).
 */
import { RouterError, upstreamError } from "../errors.js";
import { SseDecoder } from "../stream/sse-decoder.js";
import type { ChunkIdentity } from "./token-capture.js";

type Json = Record<string, any>;

/** The answer as the first host left it, and what the client asked to get. */
export interface AnswerSoFar {
  identity: ChunkIdentity;
  /** The composite id. */
  model: string;
  includeUsage: boolean;
  /** The client asked for logprobs (the continuation host is asked for as many candidates). */
  clientLogprobs: boolean;
  /** The client asked for `timings_per_token`. */
  clientTimings: boolean;
  /** Tokens the first host generated (and the client has). */
  generated: number;
  /** The prompt in tokens, as the first host counted it; undefined when it broke before its first token. */
  promptTokens?: number;
  cachedTokens?: number;
  /** The first host's last `timings`, parsed. */
  timings?: Json;
  /** The finish chunk (and the usage chunk) already went out: only what is missing follows. */
  finishSent: boolean;
  usageSent: boolean;
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** `stop_type` of llama-server's last `/completion` chunk, as the chat API's finish reason. */
const FINISH = new Map([["limit", "length"], ["eos", "stop"], ["word", "stop"]]);

export class CompletionReshaper {
  readonly #decoder = new SseDecoder();
  readonly #soFar: AnswerSoFar;
  readonly #onFirstText: () => void;
  #texted = false;
  #stopped = false;
  /** Tokens the continuation host generated so far, and its last timings. */
  #predicted = 0;
  #hostTimings?: Json;

  constructor(soFar: AnswerSoFar, onFirstText: () => void = () => {}) {
    this.#soFar = soFar;
    this.#onFirstText = onFirstText;
  }

  /** Tokens of the whole answer, both hosts. */
  get completionTokens(): number {
    return this.#soFar.generated + this.#predicted;
  }

  /** The continuation host's own timings (its prefill of the continuation and its generation), for the fleet router. */
  get hostTimings(): Json | undefined {
    return this.#hostTimings;
  }

  push(chunk: Uint8Array): Uint8Array {
    const out: string[] = [];
    for (const { data } of this.#decoder.push(chunk)) {
      if (this.#stopped) continue;
      let event: Json;
      try {
        event = JSON.parse(data) as Json;
      } catch {
        throw upstreamError("the continuation host sent a malformed stream event", "upstream_stream_broken");
      }
      if (event.error) {
        const e = event.error as Json;
        throw new RouterError(502, typeof e.message === "string" ? e.message : "the continuation host reported an error", typeof e.type === "string" ? e.type : "upstream_error", null);
      }
      if (typeof event.tokens_predicted === "number") this.#predicted = event.tokens_predicted;
      if (event.timings) this.#hostTimings = event.timings as Json;
      const text = typeof event.content === "string" ? event.content : "";
      if (text || (this.#soFar.clientLogprobs && Array.isArray(event.completion_probabilities) && event.completion_probabilities.length)) {
        out.push(this.#delta(text, event));
      }
      if (event.stop === true) {
        this.#stopped = true;
        out.push(this.#end(FINISH.get(event.stop_type) ?? "stop"));
      }
    }
    if (out.length && !this.#texted) {
      this.#texted = true;
      this.#onFirstText();
    }
    return out.length ? encoder.encode(out.join("")) : EMPTY;
  }

  /** The continuation host's body ended: without its last chunk the answer is cut, and must not look whole. */
  flush(): Uint8Array {
    this.#decoder.flush();
    if (!this.#stopped) throw upstreamError("the continuation host's stream ended before the answer was complete", "upstream_stream_broken");
    return EMPTY;
  }

  #delta(text: string, event: Json): string {
    const choice: Json = { finish_reason: null, index: 0, delta: { content: text } };
    if (this.#soFar.clientLogprobs) choice.logprobs = { content: Array.isArray(event.completion_probabilities) ? event.completion_probabilities : [] };
    const chunk = this.#chunk([choice]);
    if (this.#soFar.clientTimings && event.timings) chunk.timings = this.#timings();
    return frame(chunk);
  }

  #end(finishReason: string): string {
    const out: string[] = [];
    const timings = this.#timings();
    if (!this.#soFar.finishSent) {
      const finish = this.#chunk([{ finish_reason: finishReason, index: 0, delta: {} }]);
      // Without a usage chunk llama-server puts the timings on the finish chunk; with one, on the usage chunk.
      if (!this.#soFar.includeUsage && timings) finish.timings = timings;
      out.push(frame(finish));
    }
    if (this.#soFar.includeUsage && !this.#soFar.usageSent) {
      const usage = this.#chunk([]);
      usage.usage = this.#usage();
      if (timings) usage.timings = timings;
      out.push(frame(usage));
    }
    out.push("data: [DONE]\n\n");
    return out.join("");
  }

  #chunk(choices: Json[]): Json {
    const { identity, model } = this.#soFar;
    return { choices, created: identity.created, id: identity.id, model, ...(identity.fingerprint !== undefined && { system_fingerprint: identity.fingerprint }), object: "chat.completion.chunk" };
  }

  /** Prompt tokens as the first host counted them (the continuation host counts the generated ones as prompt too). */
  #usage(): Json {
    const host = this.#hostTimings;
    const hostPrompt = host ? Number(host.cache_n ?? 0) + Number(host.prompt_n ?? 0) - this.#soFar.generated : 0;
    const prompt = this.#soFar.promptTokens ?? hostPrompt;
    const completion = this.completionTokens;
    return { completion_tokens: completion, prompt_tokens: prompt, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: this.#soFar.cachedTokens ?? 0 } };
  }

  #timings(): Json | undefined {
    return combinedTimings(this.#soFar.timings, this.#hostTimings);
  }
}

const frame = (chunk: Json) => `data: ${JSON.stringify(chunk)}\n\n`;

/**
 * The answer's timings: the prompt side is the first host's (it read the client's prompt), the generation side adds
 * both hosts' tokens and time. Undefined when neither host sent any.
 */
function combinedTimings(first: Json | undefined, host: Json | undefined): Json | undefined {
  if (!first) return host;
  if (!host) return first;
  const n = Number(first.predicted_n ?? 0) + Number(host.predicted_n ?? 0);
  const ms = Number(first.predicted_ms ?? 0) + Number(host.predicted_ms ?? 0);
  return {
    cache_n: first.cache_n,
    prompt_n: first.prompt_n,
    prompt_ms: first.prompt_ms,
    prompt_per_token_ms: first.prompt_per_token_ms,
    prompt_per_second: first.prompt_per_second,
    predicted_n: n,
    predicted_ms: ms,
    predicted_per_token_ms: n > 0 ? ms / n : 0,
    predicted_per_second: ms > 0 ? (n * 1000) / ms : 0,
  };
}

/**
 * The continuation host's chat stream (continued with `continue_final_message`, the parsed formats: reasoning, tools),
 * made the client's: its role chunk dropped (the client had one), the first host's id and created, usage counted as
 * one answer, the answer's timings. Everything else (deltas, a tool call, the finish, [DONE]) is the host's own, as
 * its chat format parsed it.
 */
export class ChatChunkReshaper {
  readonly #decoder = new SseDecoder();
  readonly #soFar: AnswerSoFar;
  readonly #onFirstText: () => void;
  #hostTimings?: Json;
  #texted = false;
  #done = false;

  constructor(soFar: AnswerSoFar, onFirstText: () => void = () => {}) {
    this.#soFar = soFar;
    this.#onFirstText = onFirstText;
  }

  get hostTimings(): Json | undefined {
    return this.#hostTimings;
  }

  push(chunk: Uint8Array): Uint8Array {
    const out: string[] = [];
    for (const { data } of this.#decoder.push(chunk)) {
      if (this.#done) continue;
      if (data === "[DONE]") {
        this.#done = true;
        out.push("data: [DONE]\n\n");
        continue;
      }
      let event: Json;
      try {
        event = JSON.parse(data) as Json;
      } catch {
        throw upstreamError("the continuation host sent a malformed stream event", "upstream_stream_broken");
      }
      if (event.error) {
        const e = event.error as Json;
        throw new RouterError(502, typeof e.message === "string" ? e.message : "the continuation host reported an error", typeof e.type === "string" ? e.type : "upstream_error", null);
      }
      const choice = event.choices?.[0];
      const delta = choice?.delta ?? {};
      if (typeof delta.role === "string" && !delta.content && !delta.reasoning_content && !delta.tool_calls && !choice.finish_reason) continue;
      event.id = this.#soFar.identity.id;
      event.created = this.#soFar.identity.created;
      event.model = this.#soFar.model;
      if (event.timings) {
        this.#hostTimings = event.timings as Json;
        event.timings = combinedTimings(this.#soFar.timings, this.#hostTimings);
      }
      if (event.usage) {
        const completion = this.#soFar.generated + Number(event.usage.completion_tokens ?? 0);
        const prompt = this.#soFar.promptTokens ?? Number(event.usage.prompt_tokens ?? 0) - this.#soFar.generated;
        event.usage = { ...event.usage, completion_tokens: completion, prompt_tokens: prompt, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: this.#soFar.cachedTokens ?? 0 } };
      }
      out.push(frame(event));
    }
    if (out.length && !this.#texted) {
      this.#texted = true;
      this.#onFirstText();
    }
    return out.length ? encoder.encode(out.join("")) : EMPTY;
  }

  flush(): Uint8Array {
    this.#decoder.flush();
    if (!this.#done) throw upstreamError("the continuation host's stream ended before the answer was complete", "upstream_stream_broken");
    return EMPTY;
  }
}
