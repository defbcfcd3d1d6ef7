/**
 * Reading what llama-server reports into the small shapes the routing signals keep: `/slots` (how many slots,
 * how many busy), router-mode `/v1/models` (which models are loaded) and an answer's `timings` or `usage` (how much
 * of the prompt was cached, how fast the rest was read). Anything unexpected reads as "unknown", never an error.
 */

export interface SlotUse {
  total: number;
  busy: number;
}

export type Residency = "loaded" | "unloaded" | "loading";

/** From one answer: prompt tokens served from the cache, prompt tokens computed, and the prefill rate if known. */
export interface AnswerTimings {
  cachedTokens: number;
  computedTokens: number;
  prefillPerSecond?: number;
}

const count = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
const record = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** `GET /slots`: `[{ id, n_ctx, is_processing, ... }]`, whether each slot is processing, in order. */
export function parseSlotStates(body: unknown): boolean[] | undefined {
  if (!Array.isArray(body) || body.length === 0) return undefined;
  return body.map((slot) => record(slot)?.is_processing === true);
}

/** `GET /slots` as a count: how many slots, how many busy. */
export function parseSlots(body: unknown): SlotUse | undefined {
  const processing = parseSlotStates(body);
  return processing && { total: processing.length, busy: processing.filter(Boolean).length };
}

/** Router-mode `GET /v1/models`: each entry's `status.value`, under its id and its aliases. Empty for a single-model host. */
export function parseResidency(body: unknown): Map<string, Residency> {
  const found = new Map<string, Residency>();
  const data = record(body)?.data;
  if (!Array.isArray(data)) return found;
  for (const entry of data) {
    const e = record(entry);
    const value = record(e?.status)?.value;
    if (typeof e?.id !== "string" || (value !== "loaded" && value !== "unloaded" && value !== "loading")) continue;
    found.set(e.id, value);
    if (Array.isArray(e.aliases)) for (const alias of e.aliases) if (typeof alias === "string") found.set(alias, value);
  }
  return found;
}

/**
 * An answer's cache figures: llama-server's `timings` (chat, completions, Responses; the final stream chunk or the
 * whole body), else the API's usage (OpenAI `prompt_tokens_details.cached_tokens`, Responses
 * `input_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`), which carries no prefill rate.
 */
export function parseTimings(body: unknown): AnswerTimings | undefined {
  const b = record(body);
  const timings = record(b?.timings);
  const cached = count(timings?.cache_n);
  const computed = count(timings?.prompt_n);
  if (cached !== undefined && computed !== undefined) {
    const rate = count(timings?.prompt_per_second);
    return rate ? { cachedTokens: cached, computedTokens: computed, prefillPerSecond: rate } : { cachedTokens: cached, computedTokens: computed };
  }
  const usage = record(b?.usage) ?? record(record(b?.response)?.usage) ?? record(record(b?.message)?.usage);
  if (!usage) return undefined;
  const anthropicCached = count(usage.cache_read_input_tokens);
  const anthropicInput = count(usage.input_tokens);
  if (anthropicCached !== undefined && anthropicInput !== undefined) return { cachedTokens: anthropicCached, computedTokens: anthropicInput };
  const total = count(usage.prompt_tokens) ?? count(usage.input_tokens);
  const details = record(usage.prompt_tokens_details) ?? record(usage.input_tokens_details);
  const cachedOf = count(details?.cached_tokens);
  if (total === undefined || cachedOf === undefined) return undefined;
  return { cachedTokens: cachedOf, computedTokens: Math.max(0, total - cachedOf) };
}
