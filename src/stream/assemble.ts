/**
 * Non-streaming answers, assembled from a stream (docs/architecture.md, "Invariants"): llama-server cancels a request
 * only when a write to its client fails, and workerd notices a client that left only when it writes to it. So for a
 * non-streaming chat or completion the router asks the host for a STREAM, builds the OpenAI JSON itself, and while
 * the host generates it writes a space every HEARTBEAT_MS (JSON allows leading whitespace; every OpenAI client parses
 * it). Each write lets a disconnect be seen, which cancels the host stream and frees the slot at once; the writes also
 * keep a long generation clear of Cloudflare's 100-second limit on a silent origin. Once a space was sent the status
 * is 200: a failure after that is reported as the body `{"error":{...}}`.
 */
import { badUpstream, RouterError, upstreamError } from "../errors.js";
import { SseDecoder } from "./sse-decoder.js";

/** How often a space is written while the host generates (or is silent), when nothing else was written. */
const HEARTBEAT_MS = 250;
const SPACE = new TextEncoder().encode(" ");
const EMPTY = new Uint8Array(0);

/**
 * How the relay (stream/relay.ts) carries an assembled answer: a space every HEARTBEAT_MS on a timer, and the host's
 * body read in batches while it arrives fast, since nothing goes to the client per chunk (measured on a host that
 * streams 64 chunks at once: one JavaScript read per chunk cost the answer ~5 ms, docs/benchmark.md).
 */
export const ASSEMBLED_RELAY = { batchReads: true, heartbeat: { everyMs: HEARTBEAT_MS, bytes: SPACE } } as const;

type Json = Record<string, any>;

/**
 * What every streamed OpenAI answer has around its choices: the first chunk's id and created, the final usage, the
 * host's timings, and choices merged by index. Subclasses say what one chunk adds to a choice.
 */
abstract class ChunkAssembler {
  #first?: Json;
  #usage?: Json;
  #timings?: Json;
  protected readonly choices = new Map<number, Json>();

  /** The host's final usage (token counts), once it arrived. */
  get usage(): Json | undefined {
    return this.#usage;
  }

  /** llama-server's `timings` (cached and computed prompt tokens, prefill rate), once they arrived. */
  get timings(): Json | undefined {
    return this.#timings;
  }

  add(chunk: Json): void {
    this.#first ??= chunk;
    if (chunk.usage) this.#usage = chunk.usage;
    if (chunk.timings) this.#timings = chunk.timings;
    for (const c of Array.isArray(chunk.choices) ? chunk.choices : []) {
      const index = Number(c.index ?? 0);
      let choice = this.choices.get(index);
      if (!choice) this.choices.set(index, (choice = this.newChoice(index)));
      this.merge(choice, c);
      if (c.finish_reason) choice.finish_reason = c.finish_reason;
    }
  }

  /** Every choice got its finish reason: the host said the answer is whole. */
  get finished(): boolean {
    return this.choices.size > 0 && [...this.choices.values()].every((c) => c.finish_reason !== null);
  }

  protected abstract newChoice(index: number): Json;
  protected abstract merge(choice: Json, delta: Json): void;

  protected envelope(object: string, model: string, choices: Json[]): Json {
    const first = this.#first ?? {};
    const body: Json = { id: first.id, object, created: first.created, model, system_fingerprint: first.system_fingerprint, choices };
    if (this.#usage) body.usage = this.#usage;
    if (this.#timings) body.timings = this.#timings;
    return JSON.parse(JSON.stringify(body)); // drops undefined members
  }

  protected sortedChoices(): Json[] {
    return [...this.choices.values()].sort((a, b) => a.index - b.index);
  }
}

/** Merges `chat.completion.chunk`s into one `chat.completion` (content, reasoning, tool calls by index, usage). */
export class ChatCompletionAssembler extends ChunkAssembler {
  protected newChoice(index: number): Json {
    // `refusal` is required (nullable) by OpenAI's schema; llama-server never refuses in a separate field.
    return { index, message: { role: "assistant", content: null, refusal: null }, logprobs: null, finish_reason: null };
  }

  protected merge(choice: Json, c: Json): void {
    const delta = c.delta ?? {};
    const message = choice.message;
    if (typeof delta.role === "string") message.role = delta.role;
    if (typeof delta.content === "string") message.content = (message.content ?? "") + delta.content;
    if (typeof delta.reasoning_content === "string") message.reasoning_content = (message.reasoning_content ?? "") + delta.reasoning_content;
    for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
      message.tool_calls ??= [];
      const at = Number(call.index ?? message.tool_calls.length);
      const merged = (message.tool_calls[at] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
      if (call.id) merged.id = call.id;
      if (call.type) merged.type = call.type;
      if (call.function?.name) merged.function.name += call.function.name;
      if (typeof call.function?.arguments === "string") merged.function.arguments += call.function.arguments;
    }
    if (c.logprobs?.content) (choice.logprobs ??= { content: [] }).content.push(...c.logprobs.content);
  }

  result(model: string): Json {
    const choices = this.sortedChoices().map((c) => ({ ...c, message: { ...c.message, tool_calls: c.message.tool_calls?.filter(Boolean) } }));
    return this.envelope("chat.completion", model, choices);
  }
}

/** Merges legacy `text_completion` chunks into one `text_completion`. */
export class TextCompletionAssembler extends ChunkAssembler {
  protected newChoice(index: number): Json {
    return { index, text: "", logprobs: null, finish_reason: null };
  }

  protected merge(choice: Json, c: Json): void {
    if (typeof c.text === "string") choice.text += c.text;
  }

  result(model: string): Json {
    return this.envelope("text_completion", model, this.sortedChoices());
  }
}

export type Assembler = ChatCompletionAssembler | TextCompletionAssembler;

/**
 * A relay transform: swallows the host's SSE and emits the assembled JSON at the end; the relay writes the spaces
 * meanwhile (ASSEMBLED_RELAY).
 */
export class AssembleTransform {
  readonly #decoder = new SseDecoder();
  #sawDone = false;

  constructor(
    readonly assembler: Assembler,
    readonly model: string,
  ) {}

  push(chunk: Uint8Array): Uint8Array {
    this.#take(this.#decoder.push(chunk));
    return EMPTY;
  }

  flush(): Uint8Array {
    this.#take(this.#decoder.flush());
    // A host that closed cleanly but early (no [DONE], no finish reason) sent a cut answer: never pass it as whole.
    if (!this.#sawDone && !this.assembler.finished) {
      throw upstreamError("the host's stream ended before the answer was complete", "upstream_stream_broken");
    }
    return new TextEncoder().encode(JSON.stringify(this.assembler.result(this.model)));
  }

  #take(events: { data: string }[]): void {
    for (const { data } of events) {
      if (data === "[DONE]") {
        this.#sawDone = true;
        continue;
      }
      let parsed: Json;
      try {
        parsed = JSON.parse(data) as Json;
      } catch (err) {
        throw badUpstream("the host sent a malformed stream event", err);
      }
      if (parsed.error) {
        const e = parsed.error as Json;
        throw new RouterError(502, typeof e.message === "string" ? e.message : "the host reported an error mid-answer", typeof e.type === "string" ? e.type : "upstream_error", null);
      }
      this.assembler.add(parsed);
    }
  }
}
