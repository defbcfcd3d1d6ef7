/**
 * One model of an Arena run: its stream (opened through `proxyInference`, so resolved, sent, model-rewritten and
 * guarded by the idle timer exactly like any chat), re-framed as `event: chunk` frames, measured by the router, and
 * closed by exactly one `event: result` frame, whether it finished, failed before answering or broke off midway.
 * Pull-based: one read of the host at a time, when the merged stream asks for it.
 */
import { badUpstream, clientClosed, RouterError, upstreamError, type ErrorBody } from "../errors.js";
import { redactSecrets } from "../secrets.js";
import { SseDecoder, type SseEvent } from "../stream/sse-decoder.js";

export interface ArenaResult {
  /** The model as the client named it. */
  model: string;
  index: number;
  /** The composite id that served it (an alias names its member), when a host answered. */
  route: string | null;
  /** From the run's start to the first generated token. */
  ttftMs: number | null;
  /** The host's own count (final usage chunk) when it sent one, else the token-bearing chunks the router saw. */
  completionTokens: number;
  /** Generation speed after the first token: (tokens - 1) / (last token - first token); null when not measurable. */
  tokensPerSecond: number | null;
  finishReason: string | null;
  error?: ErrorBody;
}

export interface LaneStep {
  /** SSE frames ready to send (possibly ""). */
  frames: string;
  /** The lane has sent its `result`; nothing more will come. */
  done: boolean;
}

export class ArenaLane {
  readonly #abort = new AbortController();
  readonly #decoder = new SseDecoder();
  readonly #opening: Promise<Response>;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #route: string | null = null;
  #firstTokenAt: number | undefined;
  #lastTokenAt: number | undefined;
  #tokenChunks = 0;
  #usageTokens: number | undefined;
  #finishReason: string | null = null;
  #sawDone = false;
  #error: ErrorBody | undefined;
  #result: ArenaResult | undefined;

  /** @param open starts the model's upstream request at once; `signal` aborts it (client gone). */
  constructor(
    readonly index: number,
    readonly model: string,
    readonly startedAt: number,
    open: (signal: AbortSignal) => Promise<Response>,
  ) {
    this.#opening = open(this.#abort.signal);
    this.#opening.catch(() => {}); // observed in step(); not an unhandled rejection meanwhile
  }

  get result(): ArenaResult | undefined {
    return this.#result;
  }

  /** The next frames; never rejects. After `done`, further calls return nothing. */
  async step(): Promise<LaneStep> {
    if (this.#result) return { frames: "", done: true };
    try {
      if (!this.#reader) this.#reader = await this.#open();
      const { done, value } = await this.#reader.read();
      if (this.#abort.signal.aborted) return this.#finish("");
      let frames = "";
      for (const event of done ? this.#decoder.flush() : this.#decoder.push(value)) {
        frames += this.#onEvent(event);
        if (this.#error) break;
      }
      // The relay already reports a cut stream with an error event; this holds for any stream the lane reads.
      if (done && !this.#sawDone) this.#error ??= upstreamError("the model's stream ended before the answer was complete", "upstream_stream_broken").body();
      if (this.#error) this.#reader.cancel().catch(() => {});
      return this.#error || done ? this.#finish(frames) : { frames, done: false };
    } catch (err) {
      this.#error ??= err instanceof RouterError ? err.body() : badUpstream("the host's stream could not be read", err).body();
      this.#reader?.cancel().catch(() => {});
      return this.#finish("");
    }
  }

  /** The client went away: abort the request if it is still waiting, cancel the host's stream if it is running. */
  cancel(reason?: unknown): void {
    this.#abort.abort(reason);
    this.#reader?.cancel(reason).catch(() => {});
  }

  async #open(): Promise<ReadableStreamDefaultReader<Uint8Array>> {
    const response = await this.#opening;
    this.#route = response.headers.get("x-boocode-route");
    const isStream = (response.headers.get("content-type") ?? "").includes("text/event-stream");
    if (!isStream || !response.body || this.#abort.signal.aborted) {
      await response.body?.cancel();
      throw this.#abort.signal.aborted ? clientClosed("the client went away") : badUpstream("the host answered without streaming");
    }
    return response.body.getReader();
  }

  #onEvent(event: SseEvent): string {
    if (event.data === "[DONE]") {
      this.#sawDone = true;
      return "";
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(event.data);
    } catch (err) {
      this.#error = badUpstream("the host sent an SSE event that is not JSON", err).body();
      return "";
    }
    const error = (chunk as { error?: unknown } | null)?.error;
    if (error !== undefined) {
      this.#error = errorBody(error);
      return "";
    }
    this.#measure(chunk as ChatChunk);
    // llama-server sends one-line JSON; anything else is re-serialised so it cannot break the SSE framing.
    const data = /[\r\n]/.test(event.data) ? JSON.stringify(chunk) : event.data;
    return `event: chunk\ndata: {"model":${JSON.stringify(this.model)},"index":${this.index},"chunk":${data}}\n\n`;
  }

  #measure(chunk: ChatChunk): void {
    const choice = Array.isArray(chunk?.choices) ? chunk.choices[0] : undefined;
    const delta = choice?.delta;
    if (delta && (nonEmpty(delta.content) || nonEmpty(delta.reasoning_content) || (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0))) {
      const now = Date.now();
      this.#firstTokenAt ??= now;
      this.#lastTokenAt = now;
      this.#tokenChunks++;
    }
    if (typeof choice?.finish_reason === "string") this.#finishReason = choice.finish_reason;
    const usage = chunk?.usage?.completion_tokens;
    if (typeof usage === "number" && Number.isInteger(usage) && usage >= 0) this.#usageTokens = usage;
  }

  #finish(frames: string): LaneStep {
    const completionTokens = this.#usageTokens ?? this.#tokenChunks;
    const first = this.#firstTokenAt;
    const span = first !== undefined && this.#lastTokenAt !== undefined ? this.#lastTokenAt - first : 0;
    const result: ArenaResult = {
      model: this.model,
      index: this.index,
      route: this.#route,
      ttftMs: first === undefined ? null : first - this.startedAt,
      completionTokens,
      tokensPerSecond: completionTokens >= 2 && span > 0 ? Math.round(((completionTokens - 1) / span) * 10_000) / 10 : null,
      finishReason: this.#finishReason,
    };
    if (this.#error) result.error = this.#error;
    this.#result = result;
    return { frames: `${frames}event: result\ndata: ${JSON.stringify(result)}\n\n`, done: true };
  }
}

interface ChatChunk {
  choices?: { delta?: { content?: unknown; reasoning_content?: unknown; tool_calls?: unknown }; finish_reason?: unknown }[];
  usage?: { completion_tokens?: unknown };
}

const nonEmpty = (v: unknown) => typeof v === "string" && v.length > 0;

/** A host's or the relay's error object, in the one shape with all four keys. */
function errorBody(error: unknown): ErrorBody {
  const e = JSON.parse(redactSecrets(JSON.stringify(typeof error === "object" && error !== null ? error : { message: String(error) }))) as Record<string, unknown>;
  return {
    ...e,
    message: typeof e.message === "string" && e.message ? e.message : "the model's stream failed",
    type: typeof e.type === "string" ? e.type : "upstream_error",
    param: typeof e.param === "string" ? e.param : null,
    code: typeof e.code === "string" ? e.code : null,
  };
}
