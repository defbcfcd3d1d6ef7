/**
 * Reading and cutting JSON members on bytes, without parsing the event they are in: the relay of a stream that can be
 * continued finds, records and removes the members it asked the host for (token ids and counts), chunk by chunk, at a
 * cost proportional to those members (docs/architecture.md, "What a stream costs"). The same argument as
 * stream/model-rewrite.ts makes a byte match exact: in valid JSON an unescaped `"name"` followed by `:` can only be a
 * member name, never text inside a string. Anything unexpected answers -1 / undefined; callers then stop capturing,
 * they never pass on a broken event.
 */

export const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const LF = 0x0a;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

const encoder = new TextEncoder();

/**
 * A member name to search for: the bytes `"name"`, and which of them to look for first. An anchor letter that is rare
 * in the surrounding JSON (`b` of `logprobs`, `d` of `predicted_n`) makes a search one or two byte scans instead of
 * a stop at every `l` or `p` (this runs per chunk).
 */
export interface Key {
  bytes: Uint8Array;
  /** Index in `bytes` of the byte searched for first. */
  anchor: number;
}

export function keyBytes(name: string, anchorLetter?: string): Key {
  const bytes = encoder.encode(JSON.stringify(name));
  const anchor = anchorLetter === undefined ? 1 : name.indexOf(anchorLetter) + 1;
  if (anchor < 1) throw new Error(`anchor ${anchorLetter} is not in ${name}`);
  return { bytes, anchor };
}

const isSpace = (b: number | undefined) => b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a;

/** Set by {@link findMember}: where the value of the member it found starts (avoids an object per match). */
export let memberValueStart = 0;

/**
 * Where member `key` (from {@link keyBytes}) starts in `bytes[from, to)`, or -1; its value then starts at
 * {@link memberValueStart}. Looks for the key's first letter rather than every quote of the JSON.
 */
export function findMember(bytes: Uint8Array, key: Key, from: number, to: number): number {
  const { bytes: name, anchor } = key;
  const letter = name[anchor]!;
  const last = to - name.length;
  for (let i = bytes.indexOf(letter, from + anchor); i >= 0 && i - anchor <= last; i = bytes.indexOf(letter, i + 1)) {
    const start = i - anchor;
    if (bytes[start] !== QUOTE || !matchesAt(bytes, name, start)) continue;
    let j = start + name.length;
    while (j < to && isSpace(bytes[j])) j++;
    if (bytes[j] !== COLON) continue;
    j++;
    while (j < to && isSpace(bytes[j])) j++;
    if (j >= to) return -1;
    memberValueStart = j;
    return start;
  }
  return -1;
}

function matchesAt(bytes: Uint8Array, name: Uint8Array, at: number): boolean {
  for (let k = 1; k < name.length; k++) if (bytes[at + k] !== name[k]) return false;
  return true;
}

/** The end (exclusive) of the string literal whose opening quote is at `i`, or -1. */
export function stringEnd(bytes: Uint8Array, i: number, to: number): number {
  for (i++; i < to; i++) {
    const b = bytes[i];
    if (b === BACKSLASH) i++;
    else if (b === QUOTE) return i + 1;
  }
  return -1;
}

/** The end (exclusive) of the JSON value starting at `i` (object, array, string, number or literal), or -1. */
export function valueEnd(bytes: Uint8Array, i: number, to: number): number {
  const b = bytes[i];
  if (b === QUOTE) return stringEnd(bytes, i, to);
  if (b !== OPEN_BRACE && b !== OPEN_BRACKET) {
    while (i < to && bytes[i] !== COMMA && bytes[i] !== CLOSE_BRACE && bytes[i] !== CLOSE_BRACKET && !isSpace(bytes[i])) i++;
    return i < to ? i : -1;
  }
  let depth = 0;
  for (; i < to; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      i = stringEnd(bytes, i, to) - 1;
      if (i < 0) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * The end (exclusive) of the object at `from` when it is the last member of the event `bytes[..to)`, which closes
 * with `}}` and a blank line, and holds no `{` of its own (llama-server's `timings`): two byte searches instead of a
 * scan. In valid JSON the first `}` after `from` being the event's next to last one proves it: a string holding a
 * brace would end the object earlier or leave the event unterminated. Anything else: the general {@link valueEnd}.
 */
export function lastFlatObjectEnd(bytes: Uint8Array, from: number, to: number): number {
  if (bytes[from] === OPEN_BRACE && bytes[to - 1] === LF && bytes[to - 2] === LF && bytes[to - 3] === CLOSE_BRACE) {
    const nested = bytes.indexOf(OPEN_BRACE, from + 1);
    if ((nested < 0 || nested >= to) && bytes.indexOf(CLOSE_BRACE, from) === to - 4) return to - 3;
  }
  return valueEnd(bytes, from, to);
}

/** A non-negative or negative integer at `i` (no fraction, no exponent), or undefined. */
export function readInt(bytes: Uint8Array, i: number, to: number): number | undefined {
  const negative = bytes[i] === MINUS;
  if (negative) i++;
  let value = 0;
  let digits = 0;
  for (; i < to; i++, digits++) {
    const b = bytes[i]!;
    if (b < DIGIT_0 || b > DIGIT_9) break;
    value = value * 10 + (b - DIGIT_0);
  }
  if (digits === 0 || digits > 15) return undefined;
  const next = bytes[i];
  if (next === 0x2e || next === 0x65 || next === 0x45) return undefined; // a fraction or an exponent: not an integer
  return negative ? -value : value;
}

/** The value of member `key` read as an integer in `bytes[from, to)`, or undefined. */
export function intMember(bytes: Uint8Array, key: Key, from: number, to: number): number | undefined {
  return findMember(bytes, key, from, to) < 0 ? undefined : readInt(bytes, memberValueStart, to);
}

/**
 * The bytes to remove to drop the member `[keyStart, end)` from its object: the member and the comma before it, or,
 * for a first member, the comma after it. Undefined when neither is there (the only member: not a shape the hosts send).
 */
export function memberCut(bytes: Uint8Array, keyStart: number, end: number, to: number): [number, number] | undefined {
  let before = keyStart - 1;
  while (before >= 0 && isSpace(bytes[before])) before--;
  if (bytes[before] === COMMA) return [before, end];
  let after = end;
  while (after < to && isSpace(bytes[after])) after++;
  if (bytes[after] === COMMA) return [keyStart, after + 1];
  return undefined;
}

/**
 * The `logprobs` object at `from`, read in one pass: the `id` of each object directly inside its `content` array (the
 * generated token of each entry, not the candidates in its `top_logprobs`) is appended to `into`. Returns the end
 * (exclusive) of the object, or -1 on any other shape; {@link logprobCount} says how many ids it added.
 */
export function readLogprobs(bytes: Uint8Array, from: number, to: number, into: number[]): number {
  // Depth 1: the logprobs object; 2: its content array; 3: an entry; deeper: an entry's top_logprobs.
  if (bytes[from] !== OPEN_BRACE) return -1;
  let depth = 0;
  logprobCount = 0;
  for (let i = from; i < to; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      const end = stringEnd(bytes, i, to);
      if (end < 0) return -1;
      if (depth === 3 && end - i === 4 && bytes[i + 1] === 0x69 && bytes[i + 2] === 0x64) {
        let j = end;
        while (isSpace(bytes[j])) j++;
        if (bytes[j] === COLON) {
          j++;
          while (isSpace(bytes[j])) j++;
          const id = readInt(bytes, j, to);
          if (id === undefined || id < 0) return -1;
          into.push(id);
          logprobCount++;
        }
      }
      i = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Set by {@link readLogprobs}: how many ids it read. */
export let logprobCount = 0;
