/**
 * Relays a host's streamed body to the client chunk by chunk (never buffered), pull-based so backpressure and
 * cancellation travel both ways: a client that goes away cancels the host's body, which closes the host connection
 * and lets llama-server free the slot. A stream that breaks (reset, idle too long) ends with ONE error event in the
 * protocol's framing, then closes: a client never hangs and never mistakes a cut answer for a complete one.
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
}

export interface RelayOutcome {
  kind: "complete" | "error" | "cancelled";
  bytes: number;
  error?: RouterError;
}

export function relay(body: ReadableStream<Uint8Array>, options: RelayOptions): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const encoder = new TextEncoder();
  let bytes = 0;
  let ended = false;
  let lastActivity = Date.now();
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let idleError: RouterError | undefined;
  // Silence counts only while a read is waiting on the host, never while a slow client holds us back.
  let reading = false;

  const end = (outcome: Omit<RelayOutcome, "bytes">) => {
    if (ended) return;
    ended = true;
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    options.onEnd?.({ ...outcome, bytes });
  };

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

  return new ReadableStream<Uint8Array>({
    start() {
      idleTimer = setTimeout(watchIdle, options.idleMs);
    },
    async pull(controller) {
      try {
        for (;;) {
          reading = true;
          lastActivity = Date.now();
          const { done, value } = await reader.read();
          reading = false;
          lastActivity = Date.now();
          if (idleError) throw idleError;
          if (done) {
            const rest = options.transform?.flush();
            if (rest?.length) {
              bytes += rest.length;
              controller.enqueue(rest);
            }
            controller.close();
            end({ kind: "complete" });
            return;
          }
          const out = options.transform ? options.transform.push(value) : value;
          if (out.length === 0) continue;
          bytes += out.length;
          controller.enqueue(out);
          return;
        }
      } catch (err) {
        // A half-received event is dropped, not flushed: the client gets whole events, then the error.
        const error =
          idleError ?? (err instanceof RouterError ? err : new RouterError(502, "the host's stream broke off before it was complete", "upstream_error", "upstream_stream_broken", null, {}, err));
        controller.enqueue(encoder.encode(options.errorEvent(toRouterError(error))));
        controller.close();
        end({ kind: "error", error });
      }
    },
    cancel(reason) {
      end({ kind: "cancelled" });
      return reader.cancel(reason);
    },
  });
}

/** The protocol's SSE error event: OpenAI `data: {"error":{...}}`; Anthropic `event: error` with its own shape. */
export function errorEvent(dialect: ErrorDialect): (error: RouterError) => string {
  if (dialect === "anthropic") return (error) => `event: error\ndata: ${JSON.stringify(errorPayload(error, "anthropic"))}\n\n`;
  return (error) => `data: ${JSON.stringify(errorPayload(error))}\n\n`;
}
