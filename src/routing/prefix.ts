/**
 * A request's conversation as a chain of cumulative prefix hashes: `hashes[i]` identifies blocks 0..i, `chars[i]`
 * is how many characters those blocks hold. Two requests of one conversation share the hashes of their common
 * blocks, so a host's prefix index can say how much of a new prompt it still has cached.
 *
 * Block 0 is what llama-server's template puts first: the tools and the system prompt (chat: `tools` + the first
 * message; Anthropic: `tools` + `system`; Responses: `tools` + `instructions`). Every later message or input item is
 * one block. Each string is walked once, character by character, with no JSON serialisation: a 20k-token
 * conversation costs one pass over its text. Fields a client changes between turns without changing the prompt
 * (Anthropic `cache_control`, Responses item `id`/`status`) are left out.
 */

export type PromptApi = "chat" | "messages" | "responses" | "completions";

export interface PrefixChain {
  /** `hashes[i]`: 53-bit hash of blocks 0..i. */
  hashes: number[];
  /** `chars[i]`: characters in blocks 0..i. */
  chars: number[];
  /** Characters in the whole prompt (the last entry of `chars`, or 0). */
  totalChars: number;
}

export const EMPTY_CHAIN: PrefixChain = { hashes: [], chars: [], totalChars: 0 };

const SKIPPED_KEYS = new Set(["cache_control", "id", "status"]);
const CHAT_FIELDS = ["role", "content", "tool_calls", "tool_call_id", "name"] as const;

/** Strings at least this long are hashed as UTF-8 words (see {@link Hasher.text}); shorter ones per character. */
const WORDS_FROM = 64;
/** Longer strings are hashed in slices of this many characters, so the scratch buffer stays small. */
const SLICE = 1 << 16;
const encoder = new TextEncoder();
/** Allocated on first use (192 KiB: a slice in UTF-8 at worst), then reused by every request of the isolate. */
let scratch: Uint8Array | undefined;

/**
 * Two 32-bit multiply-rotate lanes; the digest mixes both into a safe integer. Long strings are encoded to UTF-8
 * natively (encodeInto) and read four bytes per step: several times faster than charCodeAt per character, and
 * this loop is most of a request's routing cost. A hint, not a security primitive: a collision costs one
 * mispredicted cache.
 */
class Hasher {
  private a = 0x811c9dc5;
  private b = 0x2b992ddf;
  chars = 0;

  text(s: string): void {
    this.chars += s.length;
    if (s.length < WORDS_FROM) {
      for (let i = 0; i < s.length; i++) this.tag(s.charCodeAt(i));
      return;
    }
    for (let start = 0; start < s.length; start += SLICE) this.words(s.length <= SLICE ? s : s.slice(start, start + SLICE));
  }

  private words(s: string): void {
    const bytes = (scratch ??= new Uint8Array(SLICE * 3));
    const { written } = encoder.encodeInto(s, bytes);
    const words = new Int32Array(bytes.buffer, 0, written >>> 2);
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      a = Math.imul(a ^ w, 0xcc9e2d51);
      a = (a << 15) | (a >>> 17);
      b = Math.imul(b ^ w, 0x1b873593);
      b = (b << 13) | (b >>> 19);
    }
    this.a = a;
    this.b = b;
    for (let i = written & ~3; i < written; i++) this.tag(bytes[i]!);
  }

  /** A one-character tag between values, so `["ab","c"]` and `["a","bc"]` differ. */
  tag(code: number): void {
    this.a = Math.imul(this.a ^ code, 0x01000193);
    this.b = Math.imul(this.b ^ code, 0x5bd1e995);
  }

  value(v: unknown): void {
    if (typeof v === "string") {
      this.tag(0x22);
      this.text(v);
    } else if (Array.isArray(v)) {
      this.tag(0x5b);
      for (const item of v) this.value(item);
      this.tag(0x5d);
    } else if (v !== null && typeof v === "object") {
      this.tag(0x7b);
      // Key order as sent: clients re-send earlier turns as they sent them, and sorting would cost more than it saves.
      for (const key in v as Record<string, unknown>) {
        if (SKIPPED_KEYS.has(key)) continue;
        const field = (v as Record<string, unknown>)[key];
        if (field === undefined) continue;
        this.tag(0x2c);
        this.text(key);
        this.value(field);
      }
      this.tag(0x7d);
    } else {
      this.tag(0x3d);
      this.text(String(v));
    }
  }

  /** Finalised without disturbing the running state, so the chain continues from here. */
  digest(): number {
    return (avalanche(this.a) >>> 0) * 0x200000 + ((avalanche(this.b ^ this.chars) >>> 0) & 0x1fffff);
  }
}

/** Murmur3's final mix: every input bit reaches every output bit. */
function avalanche(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The prefix chain of a request body of `api` (already parsed JSON). Anything unexpected gives a shorter chain, never an error. */
export function prefixChain(api: PromptApi, body: unknown): PrefixChain {
  if (body === null || typeof body !== "object") return EMPTY_CHAIN;
  const b = body as Record<string, unknown>;
  const chain: PrefixChain = { hashes: [], chars: [], totalChars: 0 };
  const h = new Hasher();
  const close = () => {
    h.tag(0x1e);
    chain.hashes.push(h.digest());
    chain.chars.push(h.chars);
  };
  const tools = () => {
    if (b.tools !== undefined) h.value(b.tools);
    h.tag(0x1d);
  };

  if (api === "chat") {
    const messages = Array.isArray(b.messages) ? b.messages : [];
    tools();
    for (const m of messages) {
      chatMessage(h, m);
      close();
    }
    if (messages.length === 0) close();
  } else if (api === "messages") {
    tools();
    h.value(b.system ?? "");
    close();
    for (const m of Array.isArray(b.messages) ? b.messages : []) {
      h.value((m as Record<string, unknown>)?.role);
      h.value((m as Record<string, unknown>)?.content);
      close();
    }
  } else if (api === "responses") {
    tools();
    h.value(b.instructions ?? "");
    close();
    if (typeof b.input === "string") {
      h.value(b.input);
      close();
    } else {
      for (const item of Array.isArray(b.input) ? b.input : []) {
        h.value(item);
        close();
      }
    }
  } else {
    h.value(b.prompt);
    close();
  }
  chain.totalChars = chain.chars[chain.chars.length - 1] ?? 0;
  return chain;
}

function chatMessage(h: Hasher, m: unknown): void {
  if (m === null || typeof m !== "object") return h.value(m);
  const message = m as Record<string, unknown>;
  for (const field of CHAT_FIELDS) {
    h.tag(0x2c);
    h.value(message[field] ?? null);
  }
}

/**
 * The key that spreads requests of equal cost: the session when there is one, else the conversation's opening
 * (block 0 and the first user turn), which stays the same on every later turn of that conversation.
 */
export function spreadKey(session: string | undefined, chain: PrefixChain): string {
  if (session) return `s:${session}`;
  const opening = chain.hashes[Math.min(1, chain.hashes.length - 1)];
  return opening === undefined ? "" : `p:${opening}`;
}
