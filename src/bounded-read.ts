/**
 * Reads a body into one buffer without ever holding more than `limit` bytes: chunks are copied in as they arrive
 * and dropped, so a client's request or a host's answer costs one buffer of its size, not chunks plus a joined copy.
 * Used for every body the isolate reads whole (client requests, host errors, host JSON answers).
 */

const FIRST_BUFFER_BYTES = 64 * 1024;

export interface BoundedBytes {
  bytes: Uint8Array;
  /** False when the body went on past `limit`: `bytes` then holds its first `limit` bytes and the rest was cancelled. */
  complete: boolean;
}

/** `sizeHint` (a declared content-length) sizes the buffer up front; a wrong one only costs a resize. */
export async function readAtMost(body: ReadableStream<Uint8Array> | null, limit: number, sizeHint?: number): Promise<BoundedBytes> {
  if (!body) return { bytes: new Uint8Array(0), complete: true };
  const reader = body.getReader();
  const hinted = sizeHint !== undefined && Number.isInteger(sizeHint) && sizeHint >= 0 ? sizeHint : FIRST_BUFFER_BYTES;
  let buffer: Uint8Array = new Uint8Array(Math.min(hinted, limit));
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { bytes: buffer.subarray(0, size), complete: true };
    const room = limit - size;
    if (value.byteLength > room) {
      buffer = grow(buffer, size, limit);
      buffer.set(value.subarray(0, room), size);
      await reader.cancel().catch(() => {});
      return { bytes: buffer, complete: false };
    }
    if (size + value.byteLength > buffer.byteLength) buffer = grow(buffer, size, Math.min(limit, Math.max(size + value.byteLength, buffer.byteLength * 2)));
    buffer.set(value, size);
    size += value.byteLength;
  }
}

function grow(buffer: Uint8Array, used: number, capacity: number): Uint8Array {
  if (capacity <= buffer.byteLength) return buffer;
  const bigger = new Uint8Array(capacity);
  bigger.set(buffer.subarray(0, used));
  return bigger;
}

/** A declared `content-length`, when there is a sane one. */
export function declaredLength(headers: Headers): number | undefined {
  const value = headers.get("content-length");
  const n = value === null ? NaN : Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
