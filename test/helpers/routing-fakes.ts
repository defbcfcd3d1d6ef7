/** Candidates and conversations for the routing unit tests (no hosts, no clock: time is a number the test sets). */
import type { Candidate } from "../../src/routing/index.js";

export const hostOf = (id: string) => ({ id, baseUrl: `http://${id}.test` });
export const routeOf = (id: string, model = "coder"): Candidate => ({ id: `${id}/${model}`, provider: hostOf(id), upstream: model });

export const TOOLS = [{ type: "function", function: { name: "read", description: "Read a file", parameters: { type: "object", properties: { path: { type: "string" } } } } }];

/** A chat body: a shared system prompt, then `turns` user/assistant exchanges ending on a user message. */
export function chatBody(conversation: string, turns: number, options: { system?: string; turnChars?: number } = {}) {
  const system = options.system ?? "You are a coding agent. ".repeat(200);
  const filler = "x".repeat(options.turnChars ?? 400);
  const messages: { role: string; content: string }[] = [{ role: "system", content: system }];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: `${conversation} turn ${t} ${filler}` });
    if (t < turns - 1) messages.push({ role: "assistant", content: `answer ${t} of ${conversation} ${filler}` });
  }
  return { model: "coder", tools: TOOLS, messages };
}
