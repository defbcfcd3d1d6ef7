/**
 * A chat-completions stream written as an Anthropic Messages stream: the relay transform for a `/v1/messages`
 * request the router asked of the host's chat endpoint (./to-chat.ts). It reads the chat chunks the client would
 * otherwise get (after the model rewrite, or a continuation's reshaping: one id, one finish, usage of both hosts) and
 * writes the events llama-server's own `/v1/messages` stream carries: `message_start` (the chat id, the composite
 * model, the prompt's uncached and cached tokens), one content block per part of the answer (`thinking` with
 * `thinking_delta`s and an empty `signature_delta`, `text` with `text_delta`s, `tool_use` with `input_json_delta`s),
 * `message_delta` (the stop reason and the output tokens) and `message_stop`. Blocks are closed in order, each before
 * the next one starts, as Anthropic's API does.
 *
 * Unlike the byte-level relay, every event is parsed here (an Anthropic stream has no chat chunk to rewrite in place):
 * a few microseconds per token against the ~120 µs workerd spends per chunk (docs/benchmark.md). `message_stop` is
 * written only after the chat stream's finish and `[DONE]`: a chat stream that ends early ends this one early too, and
 * the relay's end check then sees no `message_stop`. A host's own error event becomes Anthropic's `error` event.
 */
import { anthropicType } from "../errors.js";
import { SseDecoder } from "../stream/sse-decoder.js";

type Json = Record<string, unknown>;

interface ChatChunk {
  id?: unknown;
  choices?: { delta?: ChatDelta; finish_reason?: unknown }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } };
  timings?: { cache_n?: unknown; prompt_n?: unknown; predicted_n?: unknown };
  error?: { message?: unknown; type?: unknown; code?: unknown };
}

interface ChatDelta {
  content?: unknown;
  reasoning_content?: unknown;
  tool_calls?: { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } }[];
}

type Block = { kind: "thinking" | "text"; index: number } | { kind: "tool"; index: number; toolIndex: number };

const STOP_REASONS: Record<string, string> = { stop: "end_turn", tool_calls: "tool_use", length: "max_tokens" };

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

export class AnthropicEvents {
  readonly #decoder = new SseDecoder();
  readonly #model: string;
  #started = false;
  #block?: Block;
  #nextIndex = 0;
  #stopReason?: string;
  #done = false;
  /** The prompt as the host counted it, from the first chunk's `timings` (or the usage chunk). */
  #promptTokens?: number;
  #cachedTokens?: number;
  #outputTokens?: number;
  /** The chat stream's final usage and timings, for the log line and the fleet router. */
  usage?: Json;
  timings?: Json;

  /** `model`: the composite id the client named the answer by. */
  constructor(model: string) {
    this.#model = model;
  }

  push(chunk: Uint8Array): Uint8Array {
    let out = "";
    for (const event of this.#decoder.push(chunk)) out += this.#event(event.data);
    return out ? encoder.encode(out) : EMPTY;
  }

  flush(): Uint8Array {
    let out = "";
    for (const event of this.#decoder.flush()) out += this.#event(event.data);
    return out ? encoder.encode(out) : EMPTY;
  }

  /** The final figures in the chat shape (what the log line and the fleet router read from any answer). */
  get final(): { usage?: Json; timings?: Json } {
    return { usage: this.usage, timings: this.timings };
  }

  #event(data: string): string {
    if (this.#done) return "";
    if (data === "[DONE]") return this.#finish();
    let chunk: ChatChunk;
    try {
      chunk = JSON.parse(data) as ChatChunk;
    } catch {
      return ""; // not a chat chunk (the relay's end check still decides whether the answer was whole)
    }
    if (chunk.error) return this.#error(chunk.error);
    let out = "";
    if (chunk.timings) this.#counts(chunk.timings);
    if (chunk.usage) {
      this.usage = chunk.usage as Json;
      this.#outputTokens = num(chunk.usage.completion_tokens) ?? this.#outputTokens;
      if (this.#promptTokens === undefined) {
        const cached = num(chunk.usage.prompt_tokens_details?.cached_tokens) ?? 0;
        this.#promptTokens = (num(chunk.usage.prompt_tokens) ?? 0) - cached;
        this.#cachedTokens = cached;
      }
    }
    if (chunk.timings) this.timings = chunk.timings as Json;
    // llama-server opens the message at the first token, with the prompt counts the first token event carries.
    if (!this.#started && chunk.timings) out += this.#start(chunk);
    const choice = chunk.choices?.[0];
    const delta = choice?.delta;
    if (delta) {
      if (typeof delta.reasoning_content === "string" && delta.reasoning_content) {
        out += this.#into({ kind: "thinking" }, chunk) + this.#delta({ type: "thinking_delta", thinking: delta.reasoning_content });
      }
      if (typeof delta.content === "string" && delta.content) {
        out += this.#into({ kind: "text" }, chunk) + this.#delta({ type: "text_delta", text: delta.content });
      }
      for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) out += this.#toolCall(call, chunk);
    }
    if (typeof choice?.finish_reason === "string") this.#stopReason = STOP_REASONS[choice.finish_reason] ?? "end_turn";
    if (!this.#started && this.#stopReason) out += this.#start(chunk);
    return out;
  }

  #counts(timings: NonNullable<ChatChunk["timings"]>): void {
    if (this.#promptTokens === undefined && num(timings.prompt_n) !== undefined) {
      this.#promptTokens = num(timings.prompt_n);
      this.#cachedTokens = num(timings.cache_n) ?? 0;
    }
    this.#outputTokens = num(timings.predicted_n) ?? this.#outputTokens;
  }

  #start(chunk: ChatChunk): string {
    this.#started = true;
    const usage = { cache_read_input_tokens: this.#cachedTokens ?? 0, input_tokens: this.#promptTokens ?? 0, output_tokens: 0 };
    const message = { id: typeof chunk.id === "string" ? chunk.id : "", type: "message", role: "assistant", content: [], model: this.#model, stop_reason: null, stop_sequence: null, usage };
    return sse("message_start", { type: "message_start", message });
  }

  /** Opens the block `next` is part of, closing the one before it; nothing when it is the block already open. */
  #into(next: { kind: "thinking" | "text" } | { kind: "tool"; toolIndex: number; id: string; name: string }, chunk: ChatChunk): string {
    let out = this.#started ? "" : this.#start(chunk);
    const open = this.#block;
    if (open && open.kind === next.kind && (next.kind !== "tool" || (open.kind === "tool" && open.toolIndex === next.toolIndex))) return out;
    out += this.#close();
    const index = this.#nextIndex++;
    if (next.kind === "tool") {
      this.#block = { kind: "tool", index, toolIndex: next.toolIndex };
      return out + sse("content_block_start", { type: "content_block_start", index, content_block: { type: "tool_use", id: next.id, name: next.name, input: {} } });
    }
    this.#block = { kind: next.kind, index };
    const contentBlock = next.kind === "thinking" ? { type: "thinking", thinking: "" } : { type: "text", text: "" };
    return out + sse("content_block_start", { type: "content_block_start", index, content_block: contentBlock });
  }

  #toolCall(call: NonNullable<ChatDelta["tool_calls"]>[number], chunk: ChatChunk): string {
    const toolIndex = num(call?.index) ?? 0;
    const open = this.#block;
    const isOpen = open?.kind === "tool" && open.toolIndex === toolIndex;
    let out = "";
    if (!isOpen) out += this.#into({ kind: "tool", toolIndex, id: typeof call?.id === "string" ? call.id : "", name: typeof call?.function?.name === "string" ? call.function.name : "" }, chunk);
    const args = call?.function?.arguments;
    if (typeof args === "string" && args) out += this.#delta({ type: "input_json_delta", partial_json: args });
    return out;
  }

  #delta(delta: Json): string {
    return sse("content_block_delta", { type: "content_block_delta", index: this.#block!.index, delta });
  }

  #close(): string {
    const open = this.#block;
    if (!open) return "";
    this.#block = undefined;
    // Anthropic's clients expect a signature before a thinking block closes; a local model has none to give.
    const pre = open.kind === "thinking" ? sse("content_block_delta", { type: "content_block_delta", index: open.index, delta: { type: "signature_delta", signature: "" } }) : "";
    return pre + sse("content_block_stop", { type: "content_block_stop", index: open.index });
  }

  /** `[DONE]` after a finish: the open block closes, then the stop reason and output tokens, then `message_stop`. */
  #finish(): string {
    if (!this.#stopReason) return ""; // no finish came: the answer is not whole, and no message_stop says it is
    this.#done = true;
    const start = this.#started ? "" : this.#start({});
    const delta = { type: "message_delta", delta: { stop_reason: this.#stopReason, stop_sequence: null }, usage: { output_tokens: this.#outputTokens ?? 0 } };
    return start + this.#close() + sse("message_delta", delta) + sse("message_stop", { type: "message_stop" });
  }

  #error(error: NonNullable<ChatChunk["error"]>): string {
    this.#done = true;
    return sse("error", { type: "error", error: { type: anthropicType(num(error.code) ?? 500), message: typeof error.message === "string" ? error.message : "the host reported an error" } });
  }
}

const sse = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
