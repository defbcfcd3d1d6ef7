/**
 * The first host's chat stream, relayed as it always is (whole events, `model` rewritten on bytes), while recording
 * what a continuation needs: the id of every generated token (`choices[0].logprobs.content[].id`, there because the
 * router asked for `n_probs: 1`) and the running token count (`timings.predicted_n`, there because it asked for
 * `timings_per_token`). Members the client did not ask for are cut out of each token event on bytes (json-bytes.ts);
 * no event is parsed, except the first (for its id and created) and the rare chunk whose token count shows ids it did
 * not report (docs/continuation-probe.md, condition 3: a character made of several tokens reports only its last).
 *
 * Capture stops (`blocked` says why) wherever a continuation would not be exact or safe: reasoning or a tool call in
 * the answer, a token event without ids or counts, a shape it does not know. The relay goes on unchanged.
 */
import { ModelRewriter } from "../stream/model-rewrite.js";
import { findMember, intMember, keyBytes, logprobIds, memberCut, memberValueStart, QUOTE, stringEnd, valueEnd } from "./json-bytes.js";

const LOGPROBS = keyBytes("logprobs");
const TIMINGS = keyBytes("timings");
const PREDICTED_N = keyBytes("predicted_n");
const PROMPT_N = keyBytes("prompt_n");
const CACHE_N = keyBytes("cache_n");
const FINISH_REASON = keyBytes("finish_reason");
const USAGE = keyBytes("usage");
const REASONING = keyBytes("reasoning_content");
const TOOL_CALLS = keyBytes("tool_calls");
const DONE = new TextEncoder().encode("data: [DONE]");
const LF = 0x0a;
const LOWER_N = 0x6e;

/** Past this many characters whose ids must be repaired, a break is not continued (each costs a /tokenize). */
export const MAX_REPAIRS = 64;

/** A chunk whose token count grew by more than the ids it reported: the ids before them must be found again. */
export interface Gap {
  /** Where the chunk's reported ids start in `ids`. */
  at: number;
  reported: number;
  missing: number;
  /** The chunk's text (what the missing and the reported tokens spell together). */
  text: string;
}

/** What every chunk of the answer repeats: the first host's, kept when another host continues. */
export interface ChunkIdentity {
  id: string;
  created: number;
  fingerprint?: string;
}

export interface CaptureOptions {
  /** The composite id written into every `model` member. */
  model: string;
  /** The router asked for `n_probs` (the client did not ask for logprobs): cut `logprobs` from token events. */
  stripLogprobs: boolean;
  /** The router asked for `timings_per_token`: cut `timings` from token events. */
  stripTimings: boolean;
}

export class TokenCapture {
  /** Generated token ids, in order, as reported (see `gaps` for those not reported). */
  readonly ids: number[] = [];
  readonly gaps: Gap[] = [];
  /** Tokens generated up to the last token event sent (`timings.predicted_n`). */
  generated = 0;
  /** The prompt's size in tokens as the first host counted it (`cache_n + prompt_n`), once a token event came. */
  promptTokens?: number;
  cachedTokens?: number;
  /** The `timings` object of the last token event (a copy), for the answer's final figures. */
  lastTimings?: Uint8Array;
  identity?: ChunkIdentity;
  /** Set once the choice's finish chunk went out. */
  finishReason?: string;
  sawUsage = false;
  sawDone = false;
  /** Why this answer cannot be continued (capture stopped); undefined while it can. */
  blocked?: string;
  readonly #rewriter: ModelRewriter;
  readonly #options: CaptureOptions;

  constructor(options: CaptureOptions) {
    this.#options = options;
    this.#rewriter = new ModelRewriter(options.model);
  }

  /** Feeds a chunk; returns the whole events it completed, rewritten and stripped. */
  push(chunk: Uint8Array): Uint8Array {
    const block = this.#rewriter.push(chunk);
    return block.length ? this.#events(block) : block;
  }

  /** End of the host's body: a half-sent event is an error (stream/model-rewrite.ts). */
  flush(): Uint8Array {
    return this.#rewriter.flush();
  }

  #block(reason: string): void {
    this.blocked ??= reason;
  }

  /** Each event of a block of whole events: recorded, and its cuts collected; then the block copied once without them. */
  #events(block: Uint8Array): Uint8Array {
    let cuts: number[] | undefined;
    for (let start = 0; start < block.length; ) {
      let end = block.indexOf(LF, start);
      while (end >= 0 && block[end + 1] !== LF) end = block.indexOf(LF, end + 1);
      end = end < 0 ? block.length : end + 2;
      const eventCuts = this.#event(block, start, end);
      if (eventCuts) (cuts ??= []).push(...eventCuts);
      start = end;
    }
    return cuts ? without(block, cuts) : block;
  }

  /** One event in `block[from, to)`: what it says about the answer, and the byte ranges to cut from it. */
  #event(block: Uint8Array, from: number, to: number): number[] | undefined {
    if (startsWith(block, from, DONE)) {
      this.sawDone = true;
      return undefined;
    }
    if (!this.identity && !this.blocked) this.#identity(block, from, to);
    if (findMember(block, USAGE, from, to) >= 0) {
      this.sawUsage = true;
      return undefined;
    }
    const finish = findMember(block, FINISH_REASON, from, to);
    if (finish >= 0 && block[memberValueStart] === QUOTE) {
      const end = stringEnd(block, memberValueStart, to);
      this.finishReason = end < 0 ? "stop" : new TextDecoder().decode(block.subarray(memberValueStart + 1, end - 1));
      return undefined;
    }
    const logprobs = findMember(block, LOGPROBS, from, to);
    if (logprobs < 0) {
      if (findMember(block, TIMINGS, from, to) >= 0) this.#block("a token event without token ids");
      return undefined;
    }
    const logprobsValue = memberValueStart;
    const logprobsEnd = valueEnd(block, logprobsValue, to);
    if (logprobsEnd < 0) return this.#block("an unreadable token event"), undefined;
    const timings = findMember(block, TIMINGS, logprobsEnd, to);
    const timingsValue = memberValueStart;
    const timingsEnd = timings < 0 ? -1 : valueEnd(block, timingsValue, to);
    if (!this.blocked) this.#token(block, from, to, logprobs, logprobsValue, logprobsEnd, timingsValue, timingsEnd);

    const cuts: number[] = [];
    if (this.#options.stripLogprobs) {
      const cut = memberCut(block, logprobs, logprobsEnd, to);
      if (!cut) return this.#block("an unreadable token event"), undefined;
      cuts.push(...cut);
    }
    if (this.#options.stripTimings && timingsEnd > 0) {
      const cut = memberCut(block, timings, timingsEnd, to);
      if (!cut) return this.#block("an unreadable token event"), cuts;
      cuts.push(...cut);
    }
    return cuts;
  }

  /** A token event: its ids and the running count; reasoning or a tool call end the capture. */
  #token(block: Uint8Array, from: number, to: number, logprobs: number, logprobsValue: number, logprobsEnd: number, timingsValue: number, timingsEnd: number): void {
    // The delta comes before `logprobs` in llama-server's chunks: only that part can say reasoning or a tool call.
    if (hasValue(block, REASONING, from, logprobs)) return this.#block("the answer is in reasoning (its text is parsed by the host)");
    if (hasValue(block, TOOL_CALLS, from, logprobs)) return this.#block("a tool call is in flight");
    if (timingsEnd < 0) return this.#block("a token event without token counts");
    const predicted = intMember(block, PREDICTED_N, timingsValue, timingsEnd);
    if (predicted === undefined) return this.#block("a token event without token counts");
    if (this.promptTokens === undefined) {
      const computed = intMember(block, PROMPT_N, timingsValue, timingsEnd);
      const cached = intMember(block, CACHE_N, timingsValue, timingsEnd);
      if (computed !== undefined && cached !== undefined) {
        this.promptTokens = computed + cached;
        this.cachedTokens = cached;
      }
    }
    const at = this.ids.length;
    const reported = logprobIds(block, logprobsValue, logprobsEnd, this.ids);
    if (reported === undefined) return this.#block("an unreadable token event");
    const step = predicted - this.generated;
    if (step < reported) return this.#block("more token ids than generated tokens");
    if (step > reported) {
      const text = deltaContent(block, from, to);
      if (text === undefined) return this.#block("a chunk whose missing token ids cannot be recovered");
      if (this.gaps.length >= MAX_REPAIRS) return this.#block(`more than ${MAX_REPAIRS} characters made of several tokens`);
      this.gaps.push({ at, reported, missing: step - reported, text });
    }
    this.generated = predicted;
    this.lastTimings = block.slice(timingsValue, timingsEnd);
  }

  /** The first event's id, created and system_fingerprint, which every continued chunk repeats (parsed once). */
  #identity(block: Uint8Array, from: number, to: number): void {
    const event = dataOf(block, from, to) as { id?: unknown; created?: unknown; system_fingerprint?: unknown } | undefined;
    if (!event || typeof event.id !== "string" || typeof event.created !== "number") return this.#block("an unexpected first event");
    this.identity = { id: event.id, created: event.created, ...(typeof event.system_fingerprint === "string" && { fingerprint: event.system_fingerprint }) };
  }
}

/** A member `key` in `[from, to)` whose value is not `null`. */
function hasValue(block: Uint8Array, key: Uint8Array, from: number, to: number): boolean {
  return findMember(block, key, from, to) >= 0 && block[memberValueStart] !== LOWER_N;
}

/** The event's JSON (its `data:` line), parsed; undefined when it is not one JSON object. Used once per stream and on gaps. */
function dataOf(block: Uint8Array, from: number, to: number): unknown {
  const text = new TextDecoder().decode(block.subarray(from, to));
  const line = text.split("\n").find((l) => l.startsWith("data:"));
  if (!line) return undefined;
  try {
    return JSON.parse(line.slice(5));
  } catch {
    return undefined;
  }
}

function deltaContent(block: Uint8Array, from: number, to: number): string | undefined {
  const content = (dataOf(block, from, to) as { choices?: { delta?: { content?: unknown } }[] } | undefined)?.choices?.[0]?.delta?.content;
  return typeof content === "string" && content.length > 0 ? content : undefined;
}

function startsWith(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (bytes.length - at < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (bytes[at + k] !== prefix[k]) return false;
  return true;
}

/** `bytes` without the ranges `[cuts[0], cuts[1])`, `[cuts[2], cuts[3])`, ... (ascending, not overlapping): one copy. */
function without(bytes: Uint8Array, cuts: number[]): Uint8Array {
  if (!cuts.length) return bytes;
  let size = bytes.length;
  for (let i = 0; i < cuts.length; i += 2) size -= cuts[i + 1]! - cuts[i]!;
  const out = new Uint8Array(size);
  let from = 0;
  let to = 0;
  for (let i = 0; i < cuts.length; i += 2) {
    out.set(bytes.subarray(from, cuts[i]!), to);
    to += cuts[i]! - from;
    from = cuts[i + 1]!;
  }
  out.set(bytes.subarray(from), to);
  return out;
}
