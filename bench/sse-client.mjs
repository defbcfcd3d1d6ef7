// The benchmarks' SSE reader: the `data:` payload of each event of a response body, as the bytes arrive, so a
// caller can time the first content event. No JSON parsing here: callers look at the text they care about.

/** Yields each event whole, as its text block (its `event:` and `data:` lines), in order. */
export async function* sseEvents(body) {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const bytes of body) {
    pending += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = pending.indexOf("\n\n")) >= 0) {
      yield pending.slice(0, end);
      pending = pending.slice(end + 2);
    }
  }
}

/** Yields each event's data (the text after `data: `) for events that start with it; others are skipped. */
export async function* sseData(body) {
  for await (const event of sseEvents(body)) if (event.startsWith("data: ")) yield event.slice(6);
}

/** An event that carries generated text (not the empty first delta). */
export const hasContent = (data) => data.includes('"content":"') && !data.includes('"content":""');
