/**
 * The first host's chat stream, relayed as it always is (whole events, `model` rewritten on bytes), while recording
 * what a continuation needs: the id of every generated token (`choices[0].logprobs.content[].id`, there because the
 * router asked for `n_probs: 1`) and the running token count (`timings.predicted_n`, there because it asked for
 * `timings_per_token`). Members the client did not ask for are cut out of each token event in the same pass as the
 * model rewrite, and the events are copied once (json-bytes.ts); no event is parsed, except the first (for its id and
 * created) and the rare chunk whose token count shows ids it did not report (docs/continuation-probe.md, condition 3:
 * a character made of several tokens reports only its last).
 *
 * Capture stops (`blocked` says why) wherever a continuation would not be exact or safe: reasoning or a tool call in
 * the answer, text without ids or counts, a shape it does not know. The relay goes on unchanged.
 */
import { ModelRewriter, modelValueSpans } from "../stream/model-rewrite.js";
import { findMember, intMember, keyBytes, lastFlatObjectEnd, logprobCount, memberCut, memberValueStart, QUOTE, readLogprobs, stringEnd, type Key } from "./json-bytes.js";

// Anchors: letters rare around each member in llama-server's chunks (json-bytes.ts, Key).
const LOGPROBS = keyBytes("logprobs", "b");
const TIMINGS = keyBytes("timings", "g");
const PREDICTED_N = keyBytes("predicted_n", "d");
const PROMPT_N = keyBytes("prompt_n", "_");
const CACHE_N = keyBytes("cache_n", "_");
const FINISH_REASON = keyBytes("finish_reason", "_");
const USAGE = keyBytes("usage", "g");
const REASONING = keyBytes("reasoning_content", "_");
const TOOL_CALLS = keyBytes("tool_calls", "_");
const CONTENT = keyBytes("content", "c");
const DONE = new TextEncoder().encode("data: [DONE]");
const ERROR_EVENT = new TextEncoder().encode('data: {"error"');
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
  /**
   * Also keep the text sent (content and reasoning): a continuation through the host's chat endpoint replays it. Text
   * is kept anyway once the answer turns out to be reasoning (its chat format parses the output).
   */
  keepText: boolean;
}

/** How the answer can go on: `/completion` from the ids (plain text), or the host's chat endpoint (parsed formats). */
export type CaptureMode = "completion" | "chat";

export class TokenCapture extends ModelRewriter {
  /** Generated token ids, in order, as reported (see `gaps` for those not reported). */
  readonly ids: number[] = [];
  readonly gaps: Gap[] = [];
  /** Tokens generated up to the last token event sent (`timings.predicted_n`). */
  generated = 0;
  /** The prompt's size in tokens as the first host counted it (`cache_n + prompt_n`), once a token event came. */
  promptTokens?: number;
  cachedTokens?: number;
  identity?: ChunkIdentity;
  /** Set once the choice's finish chunk went out. */
  finishReason?: string;
  sawUsage = false;
  sawDone = false;
  /** The host sent its own error event: that is its answer, not a break. */
  sawError = false;
  /** Why this answer cannot be continued (capture stopped); undefined while it can. */
  blocked?: string;
  /** `chat` once text is kept (the request has tools, or the answer is reasoning). */
  mode: CaptureMode;
  /** The text sent, as the bytes inside its JSON string literals (escapes kept): reasoning, then content. */
  readonly #reasoning = new ByteList();
  readonly #content = new ByteList();
  readonly #strip: { logprobs: boolean; timings: boolean };
  /**
   * Where the `timings` object of the last token event is: a reference into the block it came in (that block is not
   * what the client gets: every token event is copied without its cuts and with its model), parsed only if needed.
   */
  #timings?: { block: Uint8Array; from: number; to: number };
  /** Per block: [start, end) byte ranges, each to be cut (`NO_VALUE`) or replaced by the model literal. */
  readonly #edits: number[] = [];

  constructor(options: CaptureOptions) {
    super(options.model);
    this.#strip = { logprobs: options.stripLogprobs, timings: options.stripTimings };
    this.mode = options.keepText ? "chat" : "completion";
  }

  /** The reasoning and the content sent so far (kept in `chat` mode), decoded once. */
  sentText(): { reasoning: string; content: string } {
    return { reasoning: this.#reasoning.decodeJsonString(), content: this.#content.decodeJsonString() };
  }

  /** The `timings` object of the last token event, parsed; undefined without one. */
  lastTimings(): Record<string, unknown> | undefined {
    const at = this.#timings;
    if (!at) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(at.block.subarray(at.from, at.to))) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  #block(reason: string): void {
    this.blocked ??= reason;
  }

  /** Each event of a block of whole events, recorded and edited; then the block copied once with every edit. */
  protected override rewrite(block: Uint8Array): Uint8Array {
    const edits = this.#edits;
    edits.length = 0;
    for (let start = 0; start < block.length; ) {
      let end = block.indexOf(LF, start);
      while (end >= 0 && block[end + 1] !== LF) end = block.indexOf(LF, end + 1);
      end = end < 0 ? block.length : end + 2;
      this.#event(block, start, end, edits);
      start = end;
    }
    if (edits.length) return spliced(block, edits, this.value);
    // The block itself goes to the client, whose stream may take its buffer over: keep a copy of what is kept of it.
    if (this.#timings?.block === block) this.#timings = { block: block.slice(this.#timings.from, this.#timings.to), from: 0, to: this.#timings.to - this.#timings.from };
    return block;
  }

  /** One event in `block[from, to)`: what it says about the answer, and its edits (in order) appended to `edits`. */
  #event(block: Uint8Array, from: number, to: number, edits: number[]): void {
    const logprobs = findMember(block, LOGPROBS, from, to);
    if (logprobs < 0) return this.#otherEvent(block, from, to, edits);
    const logprobsValue = memberValueStart;
    const at = this.ids.length;
    const logprobsEnd = readLogprobs(block, logprobsValue, to, this.ids);
    const reported = logprobCount;
    if (logprobsEnd < 0) {
      this.ids.length = at;
      this.#block("an unreadable token event");
      return modelEdits(block, from, to, edits);
    }
    const timings = findMember(block, TIMINGS, logprobsEnd, to);
    const timingsValue = memberValueStart;
    const timingsEnd = timings < 0 ? -1 : lastFlatObjectEnd(block, timingsValue, to);
    if (this.blocked) this.ids.length = at;
    else this.#token(block, from, to, logprobs, at, reported, timingsValue, timingsEnd);

    // llama-server's order: ... "delta":{...},"logprobs":{...}}],"created",...,"model":...,"object":...,"timings":{...}}
    const cutLogprobs = this.#strip.logprobs ? memberCut(block, logprobs, logprobsEnd, to) : undefined;
    const cutTimings = this.#strip.timings && timingsEnd > 0 ? memberCut(block, timings, timingsEnd, to) : undefined;
    let next = from;
    for (const cut of [cutLogprobs, cutTimings]) {
      if (!cut) continue;
      modelEdits(block, next, cut[0], edits);
      edits.push(cut[0], cut[1], NO_VALUE);
      next = cut[1];
    }
    modelEdits(block, next, to, edits);
  }

  /** An event without `logprobs`: the role chunk, the finish, the usage chunk, [DONE], or the host's error. */
  #otherEvent(block: Uint8Array, from: number, to: number, edits: number[]): void {
    modelEdits(block, from, to, edits);
    if (startsWith(block, from, DONE)) {
      this.sawDone = true;
      return;
    }
    if (startsWith(block, from, ERROR_EVENT)) {
      this.sawError = true;
      return;
    }
    if (!this.identity && !this.blocked) this.#identity(block, from, to);
    if (findMember(block, USAGE, from, to) >= 0) {
      this.sawUsage = true;
      return;
    }
    if (findMember(block, FINISH_REASON, from, to) >= 0 && block[memberValueStart] === QUOTE) {
      const end = stringEnd(block, memberValueStart, to);
      this.finishReason = end < 0 ? "stop" : new TextDecoder().decode(block.subarray(memberValueStart + 1, end - 1));
      return;
    }
    // Only the role chunk comes without ids; text without them (a host that ignored n_probs) cannot be continued.
    if (hasText(block, CONTENT, from, to) || hasValue(block, REASONING, from, to) || hasValue(block, TOOL_CALLS, from, to)) this.#block("a token event without token ids");
  }

  /** A token event: its ids (already appended at `at`) and the running count; reasoning or a tool call end the capture. */
  #token(block: Uint8Array, from: number, to: number, logprobs: number, at: number, reported: number, timingsValue: number, timingsEnd: number): void {
    const stop = (reason: string) => {
      this.ids.length = at;
      this.#block(reason);
    };
    // The delta comes before `logprobs` in llama-server's chunks: only that part can say reasoning or a tool call.
    if (hasValue(block, TOOL_CALLS, from, logprobs)) return stop("a tool call is in flight");
    const reasoning = findMember(block, REASONING, from, logprobs) >= 0 && block[memberValueStart] === QUOTE;
    if (reasoning) {
      // Reasoning is parsed out of the output by the host: only its chat endpoint can continue it (continuation.ts).
      if (this.mode === "completion" && this.generated > 0) return stop("reasoning after text that was continued as plain text");
      this.mode = "chat";
      if (!this.#keep(this.#reasoning, block, memberValueStart, logprobs)) return stop("an unreadable token event");
    } else if (this.mode === "chat" && findMember(block, CONTENT, from, logprobs) >= 0 && block[memberValueStart] === QUOTE) {
      if (!this.#keep(this.#content, block, memberValueStart, logprobs)) return stop("an unreadable token event");
    }
    if (timingsEnd < 0) return stop("a token event without token counts");
    const predicted = intMember(block, PREDICTED_N, timingsValue, timingsEnd);
    if (predicted === undefined) return stop("a token event without token counts");
    if (this.promptTokens === undefined) {
      const computed = intMember(block, PROMPT_N, timingsValue, timingsEnd);
      const cached = intMember(block, CACHE_N, timingsValue, timingsEnd);
      if (computed !== undefined && cached !== undefined) {
        this.promptTokens = computed + cached;
        this.cachedTokens = cached;
      }
    }
    const step = predicted - this.generated;
    if (step < reported) return stop("more token ids than generated tokens");
    if (step > reported) {
      const text = deltaContent(block, from, to);
      if (text === undefined) return stop("a chunk whose missing token ids cannot be recovered");
      if (this.gaps.length >= MAX_REPAIRS) return stop(`more than ${MAX_REPAIRS} characters made of several tokens`);
      this.gaps.push({ at, reported, missing: step - reported, text });
    }
    this.generated = predicted;
    this.#timings = { block, from: timingsValue, to: timingsEnd };
  }

  /** Appends the inside of the string literal at `at` (its quotes dropped, escapes kept) to `text`. */
  #keep(text: ByteList, block: Uint8Array, at: number, to: number): boolean {
    const end = stringEnd(block, at, to);
    if (end < 0) return false;
    text.push(block, at + 1, end - 1);
    return true;
  }

  /** The first event's id, created and system_fingerprint, which every continued chunk repeats (parsed once). */
  #identity(block: Uint8Array, from: number, to: number): void {
    const event = dataOf(block, from, to) as { id?: unknown; created?: unknown; system_fingerprint?: unknown } | undefined;
    if (!event || typeof event.id !== "string" || typeof event.created !== "number") return this.#block("an unexpected first event");
    this.identity = { id: event.id, created: event.created, ...(typeof event.system_fingerprint === "string" && { fingerprint: event.system_fingerprint }) };
  }
}

/** Marks an edit that removes its range (the others are replaced by the model literal). */
const NO_VALUE = 0;
const MODEL_VALUE = 1;

/** Appends the `model` values in `block[from, to)` as edits. */
function modelEdits(block: Uint8Array, from: number, to: number, edits: number[]): void {
  modelValueSpans(block, from, to, edits, MODEL_VALUE);
}

/** `bytes` with each edit `[start, end, kind]` (ascending, not overlapping) applied: one allocation, one copy. */
function spliced(bytes: Uint8Array, edits: number[], model: Uint8Array): Uint8Array {
  let size = bytes.length;
  for (let i = 0; i < edits.length; i += 3) size += (edits[i + 2] === MODEL_VALUE ? model.length : 0) - (edits[i + 1]! - edits[i]!);
  const out = new Uint8Array(size);
  let from = 0;
  let to = 0;
  for (let i = 0; i < edits.length; i += 3) {
    const start = edits[i]!;
    to = copy(bytes, from, start, out, to);
    if (edits[i + 2] === MODEL_VALUE) to = copy(model, 0, model.length, out, to);
    from = edits[i + 1]!;
  }
  copy(bytes, from, bytes.length, out, to);
  return out;
}

/** Copies `source[from, end)` into `out` at `at`; returns the end. A short run is copied by hand: cheaper than a subarray. */
function copy(source: Uint8Array, from: number, end: number, out: Uint8Array, at: number): number {
  if (end - from > 96) out.set(source.subarray(from, end), at);
  else for (let i = from; i < end; i++) out[at + i - from] = source[i]!;
  return at + end - from;
}

/** A member `key` in `[from, to)` whose value is not `null`. */
function hasValue(block: Uint8Array, key: Key, from: number, to: number): boolean {
  return findMember(block, key, from, to) >= 0 && block[memberValueStart] !== LOWER_N;
}

/** A member `key` in `[from, to)` whose value is a non-empty string. */
function hasText(block: Uint8Array, key: Key, from: number, to: number): boolean {
  return findMember(block, key, from, to) >= 0 && block[memberValueStart] === QUOTE && block[memberValueStart + 1] !== QUOTE;
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
  const delta = (dataOf(block, from, to) as { choices?: { delta?: { content?: unknown; reasoning_content?: unknown } }[] } | undefined)?.choices?.[0]?.delta;
  const text = delta?.content ?? delta?.reasoning_content;
  return typeof text === "string" && text.length > 0 ? text : undefined;
}

/** Bytes appended piece by piece into one growing buffer (doubling), read once at the end. */
class ByteList {
  #bytes = new Uint8Array(0);
  #length = 0;

  push(source: Uint8Array, from: number, to: number): void {
    const need = this.#length + (to - from);
    if (need > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.#bytes.length * 2, 256));
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    this.#bytes.set(source.subarray(from, to), this.#length);
    this.#length = need;
  }

  /** The bytes read as the inside of one JSON string literal (the pieces' escapes joined are one valid literal). */
  decodeJsonString(): string {
    return this.#length ? (JSON.parse(`"${new TextDecoder().decode(this.#bytes.subarray(0, this.#length))}"`) as string) : "";
  }
}

function startsWith(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (bytes.length - at < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (bytes[at + k] !== prefix[k]) return false;
  return true;
}
