/**
 * Relays a host's streamed body to the client chunk by chunk (never buffered), with backpressure and cancellation
 * both ways: a client that goes away cancels the host's body, which closes the host connection and lets llama-server
 * free the slot. A stream that breaks (reset, idle host, a body that ends before the protocol's last event) ends with
 * ONE error event in the protocol's framing, on an event boundary, then closes: a client never hangs and never
 * mistakes a cut answer for a complete one. A client that reads nothing for `idleMs` is cut too, so it cannot pin a
 * host slot.
 *
 * Shape (measured with `npm run bench`, see README "Benchmark"): one JS loop reads the host body and writes each
 * (rewritten) chunk into workerd's native IdentityTransformStream, whose readable side is the response body. The
 * client side then needs no JS per chunk (workerd pumps it natively), which streamed ~25-50% more chunks/s at c=16/64
 * than a JS `ReadableStream` pull source or a `pipeThrough(TransformStream)`. Outside workerd (unit tests in Node) a
 * standard identity TransformStream plays the same part.
 */
import { clientClosed, errorPayload, RouterError, timedOut, toRouterError, upstreamError, type ErrorDialect } from "../errors.js";
import type { EndCheck } from "./stream-end.js";

export interface RelayOptions {
  /**
   * Transforms each chunk (the model rewrite); `flush` returns what it still holds at the end. Either may throw a
   * RouterError to end the stream with it. What `push` returns must end on an event boundary.
   */
  transform?: { push(chunk: Uint8Array): Uint8Array; flush(): Uint8Array };
  /** Longest wait, on the host (for a chunk) or on the client (to take one), before the stream is ended. */
  idleMs: number;
  /** Frames an error as the protocol's SSE error event. */
  errorEvent: (error: RouterError) => string;
  /** Judges the last chunk sent when the host's body ends: did the protocol's end event come? None: any end is whole. */
  endCheck?: EndCheck;
  /** The client's request signal: when it aborts, the host is cancelled at once, even while the host is silent. */
  signal?: AbortSignal;
  /** Called once when the relay ends, however it ends. */
  onEnd?: (outcome: RelayOutcome) => void;
  /**
   * Called once the host's stream broke after its first byte (a reset, an idle host, a body that ended before the
   * protocol's last event, a half-sent event): another host's body to read on from, or undefined to end with the
   * error as before. `signal` aborts when the client leaves or the wait passes idleMs. The transform must know which
   * body it reads (inference continuation: src/continuation/). See docs/architecture.md, "Invariants".
   */
  resume?: (failure: RouterError, signal: AbortSignal) => Promise<ReadableStream<Uint8Array> | undefined>;
  /**
   * The relayed body is read by JavaScript in this isolate (an Arena lane), not by the runtime's response pump. A JS
   * TransformStream then hands each chunk over directly; the native pipe would cost a trip through the runtime per
   * chunk (measured: Arena of 4 on the synthetic host, 27.7 -> 23 ms p50).
   */
  readByScript?: boolean;
  /**
   * Nothing goes to the client per chunk (an assembled answer, stream/assemble.ts): while the host sends faster than
   * one JavaScript read per chunk can keep up with, its body is read in batches (see {@link hostReader}).
   */
  batchReads?: boolean;
  /**
   * Written to the client whenever nothing was for `everyMs` until the host's body has ended (an assembled answer's
   * spaces): a timer, not the host's chunks, so the client hears from the router while the host is silent too.
   */
  heartbeat?: { everyMs: number; bytes: Uint8Array };
}

export interface RelayOutcome {
  /** `cancelled`: the client left; `stalled`: the client read nothing for idleMs and was cut. */
  kind: "complete" | "error" | "cancelled" | "stalled";
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

/** A pipe plus a way to error both its ends at once, even while a write waits on a reader that never reads. */
function cuttablePipe(readByScript: boolean) {
  if (!readByScript && typeof IdentityTransformStream === "function") {
    const pipe = new IdentityTransformStream();
    const writer = pipe.writable.getWriter();
    return { readable: pipe.readable, writer, cut: (reason: unknown) => void writer.abort(reason).catch(() => {}) };
  }
  // A standard TransformStream's abort waits for the pending write, which waits for the reader; its controller does not.
  let controller!: TransformStreamDefaultController<Uint8Array>;
  const pipe = new TransformStream<Uint8Array, Uint8Array>({ start: (c) => void (controller = c) });
  return { readable: pipe.readable, writer: pipe.writable.getWriter(), cut: (reason: unknown) => controller.error(reason) };
}

/**
 * Batched reads ({@link RelayOptions.batchReads}): one read asks for at least what the host sent in BATCH_FILL_MS at
 * its pace so far, at most BATCH_MAX bytes. workerd hands a fetch body over chunk by chunk as the host wrote it, about
 * 0.1 ms of JavaScript each (docs/benchmark.md); a read with `min` is filled natively. So a host that streams fast
 * costs a few reads, and a slow one (a real generation: a chunk every few ms or more) is still read chunk by chunk, so
 * the idle watchdog sees it as before. The end of the body ends a read at once, whatever it holds.
 */
const BATCH_FILL_MS = 20;
const BATCH_MAX = 16 * 1024;

interface HostReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

/** A reader of the host's body: batched when asked and the body is a byte stream (a fetch body), else chunk by chunk. */
function hostReader(body: ReadableStream<Uint8Array>, batched: boolean): HostReader {
  let byob: ReadableStreamBYOBReader | undefined;
  if (batched) {
    try {
      byob = body.getReader({ mode: "byob" });
    } catch {
      // Not a byte stream (a body made in JavaScript): read as it comes.
    }
  }
  if (!byob) return body.getReader();
  const reader = byob as ReadableStreamBYOBReader & { readAtLeast?: (min: number, view: Uint8Array) => Promise<ReadableStreamReadResult<Uint8Array>> };
  // The host's pace: bytes since its first chunk came, over the time since then.
  let since: number | undefined;
  let received = 0;
  let finished = false;
  return {
    read: async () => {
      if (finished) return { done: true };
      const pace = since === undefined ? 0 : received / Math.max(1, Date.now() - since);
      const min = Math.max(1, Math.min(BATCH_MAX, Math.floor(pace * BATCH_FILL_MS)));
      const view = new Uint8Array(Math.max(2 * min, 8192));
      // workerd's readAtLeast (its form of the standard `read(view, { min })`); elsewhere a plain BYOB read.
      const { done, value } = await (reader.readAtLeast ? reader.readAtLeast(min, view) : reader.read(view));
      if (since === undefined) since = Date.now();
      else received += value?.byteLength ?? 0;
      finished = done;
      // A body that ended may give what it still had along with done: that is passed on now, the end on the next read.
      return value?.byteLength ? { done: false, value } : { done };
    },
    cancel: (reason) => reader.cancel(reason),
  };
}

/** A write to the client failed: the client is gone, which is not a host failure. */
class ClientWriteFailed extends Error {}

const NOT_WAITING = 0;
const ON_HOST = 1;
const ON_CLIENT = 2;

export function relay(body: ReadableStream<Uint8Array>, options: RelayOptions): ReadableStream<Uint8Array> {
  const batched = options.batchReads ?? false;
  let reader = hostReader(body, batched);
  const { readable, writer, cut } = cuttablePipe(options.readByScript ?? false);
  const { idleMs } = options;
  let bytes = 0;
  const tail: Uint8Array[] = [];
  let ended = false;
  // One wait at a time: on the host (a read) or on the client (a write); the watchdog times whichever it is.
  let waiting = NOT_WAITING;
  let waitStarted = Date.now();
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let idleError: RouterError | undefined;
  /** Aborts a resume in progress: the client left, or the wait for the next host passed idleMs. */
  let resuming: AbortController | undefined;

  const end = (outcome: Omit<RelayOutcome, "bytes" | "tail">) => {
    if (ended) return false;
    ended = true;
    resuming?.abort(outcome.error ?? clientClosed("the client left"));
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    stopHeartbeat();
    options.signal?.removeEventListener("abort", onAbort);
    options.onEnd?.({ ...outcome, bytes, tail });
    return true;
  };

  // The client went away (the response body was cancelled, or the request aborted): cancel the host's body at once.
  const clientGone = (reason?: unknown) => {
    if (end({ kind: "cancelled" })) {
      reader.cancel(reason).catch(() => {});
      cut(reason);
    }
  };
  const onAbort = () => clientGone(options.signal?.reason);
  if (options.signal?.aborted) queueMicrotask(onAbort);
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  writer.closed.catch(clientGone);

  // One timer per idle period, not per chunk: it re-arms itself for the time that is left.
  const watchIdle = () => {
    const left = waiting === NOT_WAITING ? idleMs : idleMs - (Date.now() - waitStarted);
    if (left > 0) {
      idleTimer = setTimeout(watchIdle, left);
      return;
    }
    idleTimer = undefined;
    if (waiting === ON_HOST) {
      idleError = timedOut(`the host sent nothing for ${idleMs} ms; the stream was ended`, "upstream_idle_timeout");
      reader.cancel(idleError).catch(() => {});
      resuming?.abort(idleError);
      idleTimer = setTimeout(watchIdle, idleMs); // the error event must reach the client within idleMs too
      return;
    }
    const stalled = timedOut(`the client read nothing for ${idleMs} ms; the stream was cut`, "client_stalled", 408);
    if (end({ kind: "stalled", error: stalled })) {
      reader.cancel(stalled).catch(() => {});
      cut(stalled);
    }
  };
  idleTimer = setTimeout(watchIdle, idleMs);

  // The heartbeat: a write when nothing was written for everyMs, one at a time, stopped before the last writes. A
  // timer covers a silent host. The read loop writes one too when it is due, and waits for one under way like for
  // any write (timed: a client that reads nothing is cut), since a host body that is always ready (one made in
  // JavaScript) can keep the loop busy without a turn for timers.
  let lastWriteAt = Date.now();
  let pendingBeat: Promise<void> | undefined;
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  const stopHeartbeat = () => {
    if (heartbeatTimer !== undefined) clearInterval(heartbeatTimer);
    heartbeatTimer = undefined;
  };
  const beatDue = () => heartbeatTimer !== undefined && !ended && !pendingBeat && Date.now() - lastWriteAt >= options.heartbeat!.everyMs;
  const beat = (): Promise<void> => {
    if (pendingBeat) return pendingBeat;
    const { bytes: space } = options.heartbeat!;
    bytes += space.length;
    lastWriteAt = Date.now();
    return (pendingBeat = writer.write(space).then(
      () => void (pendingBeat = undefined),
      (err) => {
        pendingBeat = undefined;
        clientGone(err);
      },
    ));
  };
  if (options.heartbeat) heartbeatTimer = setInterval(() => void (beatDue() && beat()), options.heartbeat.everyMs);

  const write = async (chunk: Uint8Array) => {
    bytes += chunk.length;
    tail.push(chunk);
    if (tail.length > TAIL_CHUNKS) tail.shift();
    waiting = ON_CLIENT;
    // One clock read per chunk: the wait on the client and the heartbeat's last write start together.
    waitStarted = lastWriteAt = Date.now();
    try {
      await writer.write(chunk);
    } catch (err) {
      throw new ClientWriteFailed("the client stopped reading", { cause: err });
    }
    waiting = NOT_WAITING;
  };

  /** A break after the first byte: the next host's body when the options can continue the answer, else undefined. */
  const resumeAfter = async (failure: RouterError): Promise<ReadableStream<Uint8Array> | undefined> => {
    if (!options.resume || ended) return undefined;
    const controller = (resuming = new AbortController());
    idleError = undefined;
    // Waiting for the next host counts as waiting on the host: the watchdog bounds it by idleMs.
    waiting = ON_HOST;
    waitStarted = Date.now();
    const next = await options.resume(failure, controller.signal).catch(() => undefined);
    resuming = undefined;
    waiting = NOT_WAITING;
    if (next && (ended || controller.signal.aborted)) {
      next.cancel(controller.signal.reason).catch(() => {});
      return undefined;
    }
    return next;
  };

  const pump = async () => {
    for (;;) {
      try {
        await pumpFrom();
        return;
      } catch (err) {
        if (ended) return; // the client left or was cut: nobody reads any more
        if (err instanceof ClientWriteFailed) return clientGone(err.cause);
        // A half-received event is dropped, not flushed: the client gets whole events, then the error.
        const error =
          idleError ?? (err instanceof RouterError ? err : upstreamError("the host's stream broke off before it was complete", "upstream_stream_broken", err));
        reader.cancel(error).catch(() => {});
        const next = await resumeAfter(error);
        if (ended) return;
        if (next) {
          reader = hostReader(next, batched);
          continue;
        }
        stopHeartbeat();
        try {
          // Timed like any write: a client that never reads cannot hold this relay (and its log line) forever.
          waiting = ON_CLIENT;
          waitStarted = Date.now();
          await writer.write(new TextEncoder().encode(options.errorEvent(toRouterError(idleError ?? error))));
          await writer.close();
        } catch {
          // The client left meanwhile, or was cut: `end` already ran or runs below; nothing more to tell it.
        }
        end({ kind: "error", error: idleError ?? error });
        return;
      }
    }
  };

  /** Reads the current host body to its end; throws on a break (host failure) or when the client stopped reading. */
  const pumpFrom = async () => {
    for (;;) {
      waiting = ON_HOST;
      waitStarted = Date.now();
      const { done, value } = await reader.read();
      waiting = NOT_WAITING;
      if (idleError) throw idleError;
      if (ended) return; // cancelled by the client while the read was pending
      if (done) break;
      if (!value?.length) continue;
      const out = options.transform ? options.transform.push(value) : value;
      if (out.length) await write(out);
      else if (pendingBeat || beatDue()) {
        waiting = ON_CLIENT;
        waitStarted = Date.now();
        await beat();
        waiting = NOT_WAITING;
      }
    }
    stopHeartbeat();
    const rest = options.transform?.flush();
    if (rest?.length) await write(rest);
    const verdict = options.endCheck?.(tail.at(-1)) ?? "whole";
    if (verdict === "cut") throw upstreamError("the host's stream ended before the answer was complete", "upstream_stream_broken");
    waiting = ON_CLIENT;
    waitStarted = Date.now();
    await writer.close().catch((err) => Promise.reject(new ClientWriteFailed("the client stopped reading", { cause: err })));
    if (verdict === "host_error") end({ kind: "error", error: upstreamError("the host ended its stream with an error event", "upstream_error_event") });
    else end({ kind: "complete" });
  };
  void pump();
  return readable;
}

/** The protocol's SSE error event: OpenAI `data: {"error":{...}}`; Anthropic `event: error` with its own shape. */
export function errorEvent(dialect: ErrorDialect): (error: RouterError) => string {
  if (dialect === "anthropic") return (error) => `event: error\ndata: ${JSON.stringify(errorPayload(error, "anthropic"))}\n\n`;
  return (error) => `data: ${JSON.stringify(errorPayload(error))}\n\n`;
}
