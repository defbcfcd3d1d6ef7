/**
 * Whether a request's answer could be continued if its stream broke, decided once from the parsed body (before it is
 * dropped, inference/host-body.ts), and what that takes: the members the first host must get so that its stream
 * carries token ids and counts, and the client's sampling fields for the continuation request. Only a streamed (or
 * assembled) chat completion of plain text qualifies; a request the continuation could not reproduce exactly is left
 * alone and pays nothing (docs/continuation-probe.md, "Conditions"; docs/architecture.md, "Invariants").
 */

export interface ContinuationPlan {
  /** Members written in front of the client's body for the first host (`"n_probs":1,`...), "" when the client asked for both. */
  readonly hostFields: string;
  /** The router added `n_probs`: the client gets no `logprobs` member. */
  readonly stripLogprobs: boolean;
  /** The router added `timings_per_token`: the client gets `timings` only where the host would have sent them. */
  readonly stripTimings: boolean;
  /** The client's token limit; undefined: none (the host's default). */
  readonly maxTokens?: number;
  /** The client asked for logprobs with this many candidates (they stay in its stream, and the continuation's). */
  readonly clientProbs?: number;
  /**
   * The request has tools: its output is parsed by the host (a tool call must come back as one), so a break in its
   * text is continued through the host's chat endpoint, never as plain text (continuation.ts).
   */
  readonly hasTools: boolean;
  /** The stream ends with a usage chunk (the client asked, or the router assembles the answer). */
  readonly includeUsage: boolean;
  /** The client's fields that `/completion` understands alike (sampling, stop, seed, ...), as JSON members without braces. */
  readonly sampling: string;
}

/**
 * Fields the continuation request must not copy: the router sets them itself (prompt, limits, streaming, ids), or they
 * belong to the chat surface. Everything else (sampling, penalties, `logit_bias`, `stop`, `seed`, fields the router
 * does not know) is copied, so the continuation samples exactly as the first host did.
 */
const NOT_COPIED = new Set([
  "model", "messages", "prompt", "stream", "stream_options", "n", "n_cmpl", "n_predict", "max_tokens", "max_completion_tokens",
  "logprobs", "top_logprobs", "n_probs", "timings_per_token", "response_fields", "return_tokens", "return_progress", "id_slot",
  "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call", "response_format", "grammar", "json_schema",
  "chat_template_kwargs", "reasoning_format", "reasoning_effort", "add_generation_prompt", "continue_final_message", "echo",
  "multimodal_data", "thinking_budget_tokens", "__metadata_user_id",
]);

const TOKEN_LIMITS = ["n_predict", "max_completion_tokens", "max_tokens"] as const;

/** The plan for a body sent to `hostPath`, or undefined when its answer must not be continued. */
export function continuationPlan(raw: Record<string, unknown>, hostPath: string, assembled: boolean): ContinuationPlan | undefined {
  if (hostPath !== "/v1/chat/completions" || (raw.stream !== true && !assembled)) return undefined;
  // A grammar (json_schema, response_format) restarts from its root on another host: never exact (probe, 7). Tools
  // bring only a lazy grammar that has not started while the answer is text (a break in a tool call is not continued).
  if (present(raw.grammar) || present(raw.json_schema) || present(raw.functions)) return undefined;
  const hasTools = Array.isArray(raw.tools) && raw.tools.length > 0;
  if (!hasTools && present(raw.tools) && !Array.isArray(raw.tools)) return undefined;
  const format = raw.response_format as { type?: unknown } | null | undefined;
  if (present(format) && format?.type !== "text") return undefined;
  if ((present(raw.n) && raw.n !== 1) || (present(raw.n_cmpl) && raw.n_cmpl !== 1)) return undefined;
  if (!Array.isArray(raw.messages) || !raw.messages.every(textOnly)) return undefined;

  const limits = TOKEN_LIMITS.map((k) => raw[k]).filter(present);
  if (!limits.every((v) => typeof v === "number" && Number.isInteger(v) && v === limits[0])) return undefined;
  const maxTokens = limits.length && (limits[0] as number) > 0 ? (limits[0] as number) : undefined;

  // Token ids: the client's own logprobs carry them (kept for the client); otherwise the router asks for one candidate.
  const clientProbs = isCount(raw.n_probs) ? (raw.n_probs as number) : raw.logprobs === true && isCount(raw.top_logprobs) ? (raw.top_logprobs as number) : undefined;
  const clientIds = clientProbs !== undefined;
  // Fields the router would have to add while the client set them otherwise: not continued (duplicate keys are no answer).
  if (!clientIds && (given(raw.n_probs) || given(raw.top_logprobs) || raw.logprobs === true)) return undefined;
  const clientTimings = raw.timings_per_token === true;
  if (!clientTimings && given(raw.timings_per_token)) return undefined;

  const sampling = Object.entries(raw)
    .filter(([key]) => !NOT_COPIED.has(key))
    .map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join(",");
  return {
    hostFields: `${clientIds ? "" : '"n_probs":1,'}${clientTimings ? "" : '"timings_per_token":true,'}`,
    stripLogprobs: !clientIds,
    stripTimings: !clientTimings,
    maxTokens,
    clientProbs,
    hasTools,
    includeUsage: assembled || (raw.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true,
    sampling,
  };
}

const present = (v: unknown) => v !== undefined && v !== null && v !== "" && v !== false;
const given = (v: unknown) => v !== undefined && v !== null;
const isCount = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1;

/** A message whose content is text only: media cannot be given to the continuation as token ids. */
function textOnly(message: unknown): boolean {
  const content = (message as { content?: unknown } | null)?.content;
  if (content === undefined || content === null || typeof content === "string") return true;
  return Array.isArray(content) && content.every((part) => (part as { type?: unknown } | null)?.type === "text");
}
