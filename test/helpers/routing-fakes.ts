/** Candidates and conversations for the routing unit tests (no hosts, no clock: time is a number the test sets). */
import { commonPrefix, prefixChain, type AnswerTimings, type Candidate, type FleetRouter, type FleetSignals, type HostRef, type PrefixChain } from "../../src/routing/index.js";

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

/** Rank, send to `route` (or the best) and finish successfully: what one answered request teaches the router. */
export function serve(router: FleetRouter, candidates: Candidate[], body: unknown, options: { route?: Candidate; session?: string; now?: number; timings?: AnswerTimings; durationMs?: number } = {}) {
  const now = options.now ?? 0;
  const ranking = router.rank({ candidates, policy: "replicas", session: options.session, chain: prefixChain("chat", body) }, now);
  const route = options.route ?? ranking.order[0]!.route;
  router.end(router.begin(ranking, route, now), { ok: true, timings: options.timings }, now + (options.durationMs ?? 1_000));
  return route;
}

/** `n` requests sent to `route` and not finished. */
export function occupy(router: FleetRouter, route: Candidate, n: number) {
  const ranking = router.rank({ candidates: [route], policy: "replicas" }, 0);
  for (let i = 0; i < n; i++) router.begin(ranking, route, 0);
}

/** How many leading blocks of `chain` the host is thought to hold anywhere: in one of its slots, or in its RAM cache. */
export function heldBlocks(signals: FleetSignals, host: HostRef, chain: PrefixChain, model = "coder"): number {
  const inSlots = signals.view(host, model, 0).slots.map((slot) => commonPrefix(slot.chain, chain).blocks);
  return Math.max(signals.inRam(host, model, chain).blocks, ...inSlots);
}

/** A `/slots` answer with `busy` of `total` slots processing. */
export const slotsAnswer = (total: number, busy: number) => Array.from({ length: total }, (_, id) => ({ id, is_processing: id < busy }));

