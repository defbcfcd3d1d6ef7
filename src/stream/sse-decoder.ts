/**
 * Bytes -> Server-Sent Events, as the WHATWG HTML spec parses an event stream
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation): lines end in CRLF,
 * LF or CR; `:` starts a comment; `data` lines join with "\n"; a blank line dispatches, but only when some data came.
 * Stateful across chunks, so a line, a CRLF pair or a multi-byte UTF-8 character split between two network chunks
 * is still read whole. Works on bytes like openai-node's `LineDecoder`: the chunks of an unfinished line are kept as
 * a list and joined (and decoded) once, when the line ends, so the work per chunk is proportional to the chunk
 * however long the line. An event longer than MAX_EVENT_BYTES is refused rather than held.
 */
import { upstreamError } from "../errors.js";
import { CR, LF, MAX_EVENT_BYTES, joinChunks } from "./sse-frames.js";

export interface SseEvent {
  /** The `event:` field, `"message"` when the event named none. */
  event: string;
  data: string;
  id?: string;
}

export class SseDecoder {
  // Not `stream: true`: a line is whole bytes (LF and CR never occur inside a UTF-8 sequence).
  readonly #text = new TextDecoder();
  /** The chunks of the line still open (no terminator yet). */
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  /** Bytes of the current event so far (its lines), for the bound. */
  #eventBytes = 0;
  /** The last chunk ended in CR: an LF at the start of the next one belongs to it. */
  #skipLf = false;
  #event = "";
  #data: string[] = [];
  #id: string | undefined;

  /** Feeds a chunk; returns the events it completed (possibly none). Throws on an event over MAX_EVENT_BYTES. */
  push(chunk: Uint8Array): SseEvent[] {
    const events: SseEvent[] = [];
    let start = 0;
    if (this.#skipLf && chunk.length > 0) {
      this.#skipLf = false;
      if (chunk[0] === LF) start = 1;
    }
    let lf = chunk.indexOf(LF, start);
    let cr = chunk.indexOf(CR, start);
    while (lf >= 0 || cr >= 0) {
      const end = cr < 0 || (lf >= 0 && lf < cr) ? lf : cr;
      this.#line(this.#takeLine(chunk.subarray(start, end)), events);
      start = end + 1;
      if (end === cr) {
        if (start === chunk.length) this.#skipLf = true;
        else if (chunk[start] === LF) start++;
      }
      if (lf >= 0 && lf < start) lf = chunk.indexOf(LF, start);
      if (cr >= 0 && cr < start) cr = chunk.indexOf(CR, start);
    }
    if (start < chunk.length) {
      // Held by reference: this decoder is the chunk's only reader.
      this.#held.push(start === 0 ? chunk : chunk.subarray(start));
      this.#heldBytes += chunk.length - start;
      this.#checkSize();
    }
    return events;
  }

  /** End of input. An unterminated line and an event not closed by a blank line are dropped, as the spec says. */
  flush(): SseEvent[] {
    this.#held = [];
    this.#heldBytes = 0;
    this.#skipLf = false;
    this.#resetEvent();
    return [];
  }

  /** The held chunks and `last`, as one decoded line. */
  #takeLine(last: Uint8Array): string {
    if (!this.#heldBytes) {
      this.#count(last.length);
      return last.length ? this.#text.decode(last) : "";
    }
    const bytes = joinChunks(this.#held, this.#heldBytes, last);
    this.#held = [];
    this.#heldBytes = 0;
    this.#count(bytes.length);
    return this.#text.decode(bytes);
  }

  /** Adds a finished line (and its terminator) to the event's size. */
  #count(lineBytes: number): void {
    this.#eventBytes += lineBytes + 1;
    this.#checkSize();
  }

  #checkSize(): void {
    if (this.#eventBytes + this.#heldBytes <= MAX_EVENT_BYTES) return;
    this.flush();
    throw upstreamError(`the host sent an event longer than ${MAX_EVENT_BYTES} bytes`, "upstream_event_too_large");
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === "") {
      if (this.#data.length > 0) {
        const event: SseEvent = { event: this.#event || "message", data: this.#data.join("\n") };
        if (this.#id !== undefined) event.id = this.#id;
        events.push(event);
      }
      this.#resetEvent();
      return;
    }
    if (line.charCodeAt(0) === 0x3a) return; // ":" comment (llama-server and proxies send keep-alives this way)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (field === "data") this.#data.push(value);
    else if (field === "event") this.#event = value;
    else if (field === "id" && !value.includes("\0")) this.#id = value;
    // `retry` and unknown fields are ignored.
  }

  #resetEvent(): void {
    this.#event = "";
    this.#data = [];
    this.#eventBytes = 0;
  }
}
