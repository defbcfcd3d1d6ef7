/**
 * Relays a host's streamed body to the client chunk by chunk (never buffered), with backpressure and cancellation
 * both ways: a client that goes away cancels the host's body, which closes the host connection and lets llama-server
 * free the slot. A stream that breaks (reset, idle too long) ends with ONE error event in the protocol's framing, then
 * closes: a client never hangs and never mistakes a cut answer for a complete one.
 *
 * Shape (measured with `npm run bench`, see README "Benchmark"): one JS loop reads the host body and writes each
 * (rewritten) chunk into workerd's native IdentityTransformStream, whose readable side is the response body. The
 * client side then needs no JS per chunk (workerd pumps it natively), which streamed ~25-50% more chunks/s at c=16/64
 * than a JS `ReadableStream` pull source or a `pipeThrough(TransformStream)`. Outside workerd (unit tests in Node) a
 * standard identity TransformStream plays the same part.
 */
import { RouterError, errorPayload, toRouterError, type ErrorDialect } from "../errors.js";

export interface RelayOptions {
  /** Transforms each chunk (the model rewrite); `flush` returns what it still holds at the end. */
  transform?: { push(chunk: Uint8Array): Uint8Array; flush(): Uint8Array };
  /** Longest silence between two chunks before the stream is ended with an error. */
  idleMs: number;
  /** Frames an error as the protocol's SSE error event. */
  errorEvent: (error: RouterError) => string;
  /** Called once when the relay ends, however it ends. */
  onEnd?: (outcome: RelayOutcome) => void;
  /**
   * The relayed body is read by JavaScript in this isolate (an Arena lane), not by the runtime's response pump. A JS
   * TransformStream then hands each chunk over directly; the native pipe would cost a trip through the runtime per
   * chunk (measured: Arena of 4 on the synthetic host, 27.7 -> 23 ms p50).
   */
  readByScript?: boolean;
}

export interface RelayOutcome {
  kind: "complete" | "error" | "cancelled";
  bytes: number;
  error?: RouterError;
  /** The last chunks sent (references, not copies): where a stream's final usage event is, for the log line. */
  tail: Uint8Array[];
}

/** How many of the last chunks a relay keeps for `tail`. */
const TAIL_CHUNKS = 4;

/** workerd's native byte pipe when the runtime reads the body and it exists; a standard identity TransformStream otherwise. */
export const newPipe = (readByScript: boolean): TransformStream<Uint8Array, Uint8Array> =>
  !readByScript && typeof IdentityTransformStream === "function" ? new IdentityTransformStream() : new TransformStream<Uint8Array, Uint8Array>();

export function relay(body: ReadableStream<Uint8Array>, options: RelayOptions): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const { readable, writable } = newPipe(options.readByScript ?? false);
  const writer = writable.getWriter();
  let bytes = 0;
  const tail: Uint8Array[] = [];
  let ended = false;
  let lastActivity = Date.now();
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let idleError: RouterError | undefined;
  // Silence counts only while a read is waiting on the host, never while a slow client holds us back.
  let reading = false;

  const end = (outcome: Omit<RelayOutcome, "bytes" | "tail">) => {
    if (ended) return false;
    ended = true;
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    options.onEnd?.({ ...outcome, bytes, tail });
    return true;
  };

  // The client went away (the response body was cancelled): cancel the host's body at once, even mid-read.
  const clientGone = (reason?: unknown) => {
    if (end({ kind: "cancelled" })) reader.cancel(reason).catch(() => {});
  };
  writer.closed.catch(clientGone);

  // One timer per idle period, not per chunk: it re-arms itself for the time that is left.
  const watchIdle = () => {
    const left = reading ? options.idleMs - (Date.now() - lastActivity) : options.idleMs;
    if (left > 0) {
      idleTimer = setTimeout(watchIdle, left);
      return;
    }
    idleError = new RouterError(504, `the host sent nothing for ${options.idleMs} ms; the stream was ended`, "timeout_error", "upstream_idle_timeout");
    reader.cancel(idleError).catch(() => {});
  };
  idleTimer = setTimeout(watchIdle, options.idleMs);

  const write = async (chunk: Uint8Array) => {
    bytes += chunk.length;
    tail.push(chunk);
    if (tail.length > TAIL_CHUNKS) tail.shift();
    await writer.write(chunk);
  };

  const pump = async () => {
    try {
      for (;;) {
        reading = true;
        lastActivity = Date.now();
        const { done, value } = await reader.read();
        reading = false;
        lastActivity = Date.now();
        if (idleError) throw idleError;
        if (ended) return; // cancelled by the client while the read was pending
        if (done) break;
        const out = options.transform ? options.transform.push(value) : value;
        if (out.length) await write(out);
      }
      const rest = options.transform?.flush();
      if (rest?.length) await write(rest);
      await writer.close();
      end({ kind: "complete" });
    } catch (err) {
      if (ended) return; // the client left: the write failed because nobody reads any more
      // A half-received event is dropped, not flushed: the client gets whole events, then the error.
      const error =
        idleError ?? (err instanceof RouterError ? err : new RouterError(502, "the host's stream broke off before it was complete", "upstream_error", "upstream_stream_broken", null, {}, err));
      reader.cancel(error).catch(() => {});
      try {
        await writer.write(new TextEncoder().encode(options.errorEvent(toRouterError(error))));
        await writer.close();
      } catch {
        // The client left meanwhile; nothing more to tell it.
      }
      end({ kind: "error", error });
    }
  };
  void pump();
  return readable;
}

/** The protocol's SSE error event: OpenAI `data: {"error":{...}}`; Anthropic `event: error` with its own shape. */
export function errorEvent(dialect: ErrorDialect): (error: RouterError) => string {
  if (dialect === "anthropic") return (error) => `event: error\ndata: ${JSON.stringify(errorPayload(error, "anthropic"))}\n\n`;
  return (error) => `data: ${JSON.stringify(errorPayload(error))}\n\n`;
}
