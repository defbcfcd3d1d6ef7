/**
 * Non-streaming answers, assembled from a stream (issue #6, reference/workers.md): llama-server cancels a request
 * only when a write to its client fails, and workerd notices a client that left only when it writes to it. So for a
 * non-streaming chat or completion the router asks the host for a STREAM, builds the OpenAI JSON itself, and while
 * tokens arrive it writes a space now and then (JSON allows leading whitespace; every OpenAI client parses it). Each
 * write lets a disconnect be seen, which cancels the host stream and frees the slot at once; the writes also keep a
 * long generation clear of Cloudflare's 100-second limit on a silent origin. Once a space was sent the status is 200:
 * a failure after that is reported as the body `{"error":{...}}`.
 */
import { RouterError, badUpstream } from "../errors.js";
import { SseDecoder } from "./sse-decoder.js";

/** How often, at most, a space is written while the host generates. */
const HEARTBEAT_MS = 250;
const SPACE = new TextEncoder().encode(" ");
const EMPTY = new Uint8Array(0);

type Json = Record<string, any>;

/** Merges `chat.completion.chunk`s into one `chat.completion` (content, reasoning, tool calls by index, usage). */
export class ChatCompletionAssembler {
  #first?: Json;
  #choices = new Map<number, Json>();
  #usage?: Json;

  /** The host's final usage (token counts), once it arrived. */
  get usage(): Json | undefined {
    return this.#usage;
  }
  #timings?: Json;

  add(chunk: Json): void {
    this.#first ??= chunk;
    if (chunk.usage) this.#usage = chunk.usage;
    if (chunk.timings) this.#timings = chunk.timings;
    for (const c of Array.isArray(chunk.choices) ? chunk.choices : []) {
      const index = Number(c.index ?? 0);
      let choice = this.#choices.get(index);
      if (!choice) this.#choices.set(index, (choice = { index, message: { role: "assistant", content: null }, logprobs: null, finish_reason: null }));
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
      if (c.finish_reason) choice.finish_reason = c.finish_reason;
    }
  }

  result(model: string): Json {
    const first = this.#first ?? {};
    const body: Json = {
      id: first.id,
      object: "chat.completion",
      created: first.created,
      model,
      system_fingerprint: first.system_fingerprint,
      choices: [...this.#choices.values()].sort((a, b) => a.index - b.index).map((c) => ({ ...c, message: { ...c.message, tool_calls: c.message.tool_calls?.filter(Boolean) } })),
    };
    if (this.#usage) body.usage = this.#usage;
    if (this.#timings) body.timings = this.#timings;
    return JSON.parse(JSON.stringify(body)); // drops undefined members
  }
}

/** Merges legacy `text_completion` chunks into one `text_completion`. */
export class TextCompletionAssembler {
  #first?: Json;
  #choices = new Map<number, Json>();
  #usage?: Json;

  /** The host's final usage (token counts), once it arrived. */
  get usage(): Json | undefined {
    return this.#usage;
  }
  #timings?: Json;

  add(chunk: Json): void {
    this.#first ??= chunk;
    if (chunk.usage) this.#usage = chunk.usage;
    if (chunk.timings) this.#timings = chunk.timings;
    for (const c of Array.isArray(chunk.choices) ? chunk.choices : []) {
      const index = Number(c.index ?? 0);
      let choice = this.#choices.get(index);
      if (!choice) this.#choices.set(index, (choice = { index, text: "", logprobs: null, finish_reason: null }));
      if (typeof c.text === "string") choice.text += c.text;
      if (c.finish_reason) choice.finish_reason = c.finish_reason;
    }
  }

  result(model: string): Json {
    const first = this.#first ?? {};
    const body: Json = { id: first.id, object: "text_completion", created: first.created, model, system_fingerprint: first.system_fingerprint, choices: [...this.#choices.values()].sort((a, b) => a.index - b.index) };
    if (this.#usage) body.usage = this.#usage;
    if (this.#timings) body.timings = this.#timings;
    return JSON.parse(JSON.stringify(body));
  }
}

export type Assembler = ChatCompletionAssembler | TextCompletionAssembler;

/**
 * A relay transform: swallows the host's SSE, emits a space at most every HEARTBEAT_MS while it arrives, and the
 * assembled JSON at the end.
 */
export class AssembleTransform {
  readonly #decoder = new SseDecoder();
  #lastWrite = Date.now();

  constructor(
    readonly assembler: Assembler,
    readonly model: string,
  ) {}

  push(chunk: Uint8Array): Uint8Array {
    this.#take(this.#decoder.push(chunk));
    const now = Date.now();
    if (now - this.#lastWrite < HEARTBEAT_MS) return EMPTY;
    this.#lastWrite = now;
    return SPACE;
  }

  flush(): Uint8Array {
    this.#take(this.#decoder.flush());
    return new TextEncoder().encode(JSON.stringify(this.assembler.result(this.model)));
  }

  #take(events: { data: string }[]): void {
    for (const { data } of events) {
      if (data === "[DONE]") continue;
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
