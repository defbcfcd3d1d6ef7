/**
 * Bytes -> Server-Sent Events, as the WHATWG HTML spec parses an event stream
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation): lines end in CRLF,
 * LF or CR; `:` starts a comment; `data` lines join with "\n"; a blank line dispatches, but only when some data came.
 * Stateful across chunks, so a line, a CRLF pair or a multi-byte UTF-8 character split between two network chunks
 * is still read whole (openai-node's `LineDecoder` and `SSEDecoder` do the same). Scans each byte once: a long line
 * arriving in many chunks is not re-scanned from its start.
 */

export interface SseEvent {
  /** The `event:` field, `"message"` when the event named none. */
  event: string;
  data: string;
  id?: string;
}

/** A line longer than this is not SSE from a well-behaved host; refuse it rather than hold it in memory. */
const MAX_LINE_CHARS = 4 * 1024 * 1024;

const LF = 10;
const CR = 13;

export class SseDecoder {
  readonly #text = new TextDecoder();
  /** The unterminated tail of the input: already scanned, it holds no line end. */
  #buffer = "";
  /** The last chunk ended in CR: an LF at the start of the next one belongs to it. */
  #skipLf = false;
  #event = "";
  #data: string[] = [];
  #id: string | undefined;

  /** Feeds a chunk; returns the events it completed (possibly none). Throws on a line over 4 MiB. */
  push(chunk: Uint8Array): SseEvent[] {
    return this.#scan(this.#text.decode(chunk, { stream: true }));
  }

  /** End of input: completes what the last chunk held. An event not closed by a blank line is dropped, as the spec says. */
  flush(): SseEvent[] {
    const events = this.#scan(this.#text.decode());
    this.#buffer = "";
    this.#resetEvent();
    return events;
  }

  #scan(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    const buf = this.#buffer + text;
    let start = 0;
    let i = this.#buffer.length; // the old tail was scanned already
    if (this.#skipLf && buf.length > 0) {
      this.#skipLf = false;
      if (buf.charCodeAt(0) === LF) start = i = 1;
    }
    for (; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      this.#line(buf.slice(start, i), events);
      if (c === CR) {
        if (i + 1 === buf.length) this.#skipLf = true;
        else if (buf.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
    }
    this.#buffer = start === 0 ? buf : buf.slice(start);
    if (this.#buffer.length > MAX_LINE_CHARS) throw new Error(`an SSE line is longer than ${MAX_LINE_CHARS} characters`);
    return events;
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
  }
}
