/**
 * Did the host finish its stream, or did it just stop? Each protocol closes a whole answer with its own last event:
 * OpenAI chat and completions `data: [DONE]`, Anthropic messages `message_stop`, Responses `response.completed`
 * (llama-server sends no `[DONE]` there). A body that ends without it is a cut answer, however cleanly the connection
 * closed. Checked once, at the end, on the first bytes of the last event only: the stream itself is never parsed.
 */
import { lastEvent } from "./sse-frames.js";

/** `whole`: the protocol's end event came last; `host_error`: the host's own error event did; `cut`: neither. */
export type StreamEnd = "whole" | "host_error" | "cut";

/** Judges the bytes that end with a stream's last event (they must start on an event boundary). */
export type EndCheck = (lastBytes: Uint8Array | undefined) => StreamEnd;

/** The event names (or JSON `type`s) that close a whole answer, and those that report a failure, per endpoint. */
const END_EVENTS = new Map<string, { whole: string[]; failed: string[] }>([
  ["/v1/chat/completions", { whole: ["[DONE]"], failed: [] }],
  ["/v1/completions", { whole: ["[DONE]"], failed: [] }],
  ["/v1/messages", { whole: ["message_stop"], failed: [] }],
  ["/v1/responses", { whole: ["response.completed", "response.incomplete"], failed: ["response.failed"] }],
]);

/** Enough of an event to read its `event:` line and the start of its first `data:` line. */
const HEAD_BYTES = 512;
const TYPE_FIRST = /^\{\s*"type"\s*:\s*"([^"\\]*)"/;

/** The check for a streaming endpoint; undefined for endpoints that do not stream (embeddings, rerank, ...). */
export function endCheckFor(hostPath: string): EndCheck | undefined {
  const events = END_EVENTS.get(hostPath);
  if (!events) return undefined;
  return (lastBytes) => {
    if (!lastBytes?.length) return "cut";
    const { name, data } = eventHead(lastEvent(lastBytes));
    const kind = data === "[DONE]" ? "[DONE]" : (name ?? TYPE_FIRST.exec(data)?.[1]);
    if (kind !== undefined && events.whole.includes(kind)) return "whole";
    if (kind === "error" || (kind !== undefined && events.failed.includes(kind)) || /^\{\s*"error"\s*:/.test(data)) return "host_error";
    return "cut";
  };
}

/** The `event:` name and the first `data:` value of an event, read from its first bytes. */
function eventHead(event: Uint8Array): { name?: string; data: string } {
  const text = new TextDecoder().decode(event.subarray(0, HEAD_BYTES));
  let name: string | undefined;
  let data: string | undefined;
  for (const line of text.split(/\r\n|\r|\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue; // comments and bare field names carry nothing here
    const value = line.charCodeAt(colon + 1) === 0x20 ? line.slice(colon + 2) : line.slice(colon + 1);
    const field = line.slice(0, colon);
    if (field === "event") name = value;
    else if (field === "data") data ??= value;
  }
  return { name, data: data ?? "" };
}
