/**
 * SSE framing on bytes, without decoding anything: where an event ends. An event ends at a blank line, i.e. a line
 * terminator (LF, CR or CRLF) right after another one. Used where the router must hand on whole events only (so an
 * error event it appends always starts on an event boundary) and to find a stream's last event at its end.
 */

export const LF = 0x0a;
export const CR = 0x0d;

/**
 * The longest event the router holds in memory while waiting for its end (a Responses stream's final event carries
 * the whole answer, so this is far above any real event). A longer one ends the stream with an error.
 */
export const MAX_EVENT_BYTES = 8 * 1024 * 1024;

const isTerminator = (b: number | undefined) => b === LF || b === CR;

/**
 * The end (exclusive) of the last complete event in `bytes`, or -1. `before1`/`before2` are the one and two stream
 * bytes before `bytes[0]` (-1 when none), so a blank line split between chunks is still found. Scans backwards: a
 * chunk that ends an event costs a few bytes; a chunk inside a long event is scanned once.
 */
export function lastEventEnd(bytes: Uint8Array, before1 = -1, before2 = -1): number {
  for (let i = bytes.length - 1; i >= 0; i--) {
    const b = bytes[i];
    if (!isTerminator(b)) continue;
    let j = i - 1;
    if (b === LF && byteAt(bytes, j, before1, before2) === CR) j--; // the LF of a CRLF: look before the pair
    if (isTerminator(byteAt(bytes, j, before1, before2))) return i + 1;
  }
  return -1;
}

/** `bytes[k]`, or for k = -1 / -2 the stream bytes before it (no closure per call: this runs once per chunk). */
const byteAt = (bytes: Uint8Array, k: number, before1: number, before2: number) => (k >= 0 ? bytes[k] : k === -1 ? before1 : before2);

/** The last event of `bytes`, which must start on an event boundary; its terminators excluded. Empty when none. */
export function lastEvent(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && isTerminator(bytes[end - 1])) end--;
  const start = Math.max(lastEventEnd(bytes.subarray(0, end)), 0);
  return bytes.subarray(start, end);
}

/**
 * `held` (whose lengths add up to `heldBytes`) and `last`, joined into one new array: the one copy an event or a line
 * that spans chunks costs, made once when it ends.
 */
export function joinChunks(held: readonly Uint8Array[], heldBytes: number, last: Uint8Array): Uint8Array {
  const out = new Uint8Array(heldBytes + last.length);
  let at = 0;
  for (const part of held) {
    out.set(part, at);
    at += part.length;
  }
  out.set(last, at);
  return out;
}

/** Only line terminators and spaces: nothing an SSE reader would take as part of an event. */
export function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (!isTerminator(b) && b !== 0x20 && b !== 0x09) return false;
  return true;
}
