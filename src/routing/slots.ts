/**
 * The slots of one model on one host, as the router sees them. llama-server keeps each slot's last prompt (and the
 * answer after it) in that slot's KV cache, so a conversation is warm in one SLOT, not "on a host". When a request
 * would keep less than half of what its slot holds, the host first saves the slot's prompt to its RAM prompt cache
 * and restores the best match from there; when it keeps half or more, the rest of the slot is simply dropped. Left
 * to choose, llama-server also gives a request the idle slot whose cache shares the largest part of the prompt (LCP
 * similarity). So two conversations that share a long system prompt take turns in ONE slot and each overwrites the
 * other's turns, even with a second slot idle (measured, docs/architecture.md "Fleet routing"). The router therefore
 * pins each request to a slot (`id_slot`) where the API honours it, one conversation per slot, and predicts the
 * host's own choice where it does not.
 */
import type { PrefixChain } from "./prefix.js";

/** How many leading blocks of a request's chain a slot holds, and their characters. */
export interface PrefixMatch {
  blocks: number;
  chars: number;
}

export const NO_MATCH: PrefixMatch = { blocks: 0, chars: 0 };

export interface SlotView {
  /** The last prompt this slot was given (its cache holds it); undefined when unknown or empty. */
  readonly chain?: PrefixChain;
  /** When the slot was last given a request (ms); -Infinity if never. */
  readonly usedAt: number;
  /** Send times of the router's requests on this slot (running, or queued for it), oldest first. */
  readonly inFlightSince: readonly number[];
  /** The host's recent `/slots` said it is processing while the router had nothing there: another client's request. */
  readonly foreignBusy: boolean;
}

/**
 * The leading blocks two chains share. Hashes are cumulative (each covers every block before it), so equality is
 * monotone in the index and a binary search finds the boundary: O(log n) per slot.
 */
export function commonPrefix(held: PrefixChain | undefined, chain: PrefixChain): PrefixMatch {
  if (!held) return NO_MATCH;
  let lo = 0;
  let hi = Math.min(held.hashes.length, chain.hashes.length);
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (held.hashes[mid - 1] === chain.hashes[mid - 1]) lo = mid;
    else hi = mid - 1;
  }
  return lo === 0 ? NO_MATCH : { blocks: lo, chars: chain.chars[lo - 1]! };
}

/** Requests ahead on a slot: the router's own, or one other client's when the host reported the slot busy. */
export const occupancy = (slot: SlotView): number => slot.inFlightSince.length || (slot.foreignBusy ? 1 : 0);

/**
 * How long until a slot is free for one more request. Each request the router has on it is expected to run on for
 * `max(serviceMs - elapsed, elapsed)`: an average one finishes on time, while one that has already run far longer
 * than usual (a long generation) is likely to run about as long again. The oldest holds the slot; each one queued
 * behind it then takes `serviceMs`. Another client's request takes an average `serviceMs`.
 */
export function slotWait(slot: SlotView, serviceMs: number, now: number): number {
  const ahead = slot.inFlightSince;
  if (ahead.length === 0) return slot.foreignBusy ? serviceMs : 0;
  const elapsed = now - Math.min(...ahead);
  return Math.max(serviceMs - elapsed, elapsed) + (ahead.length - 1) * serviceMs;
}

/** What one slot would mean for a request: the prefix it holds, the wait for it, and how many requests are ahead. */
export interface SlotOption {
  slot: number;
  /** What the host will reuse for the request there. */
  match: PrefixMatch;
  /** What the slot itself shares with the request (the host's own choice looks only at this). */
  inSlot: PrefixMatch;
  waitMs: number;
  queue: number;
}

/** Below this share of a slot's prompt kept, the host saves the slot to its RAM cache and restores from there. */
export const RAM_CACHE_BELOW = 0.5;

/** The share of what `held` holds that a request with `chain` keeps (0 for an empty slot). */
export function keptShare(held: PrefixChain | undefined, match: PrefixMatch): number {
  return held && held.totalChars > 0 ? match.chars / held.totalChars : 0;
}

/**
 * Each slot's option for a request: what the host will reuse there (the slot's common prefix, or, when the request
 * keeps less than half of the slot, the better of that and the best match in the RAM cache), the wait, the queue.
 */
export function slotOptions(slots: readonly SlotView[], chain: PrefixChain, serviceMs: number, now: number, inRam: () => PrefixMatch): SlotOption[] {
  let ram: PrefixMatch | undefined;
  return slots.map((s, slot) => {
    const inSlot = commonPrefix(s.chain, chain);
    const restored = keptShare(s.chain, inSlot) < RAM_CACHE_BELOW ? (ram ??= inRam()) : NO_MATCH;
    return { slot, match: restored.chars > inSlot.chars ? restored : inSlot, inSlot, waitMs: slotWait(s, serviceMs, now), queue: occupancy(s) };
  });
}

/** llama-server's default `--slot-prompt-similarity`: below this share of the prompt it picks the least recently used slot. */
const HOST_SIMILARITY = 0.1;

/**
 * The slot llama-server picks itself (no `id_slot`): among idle slots the one sharing the largest part of the prompt,
 * if that part is at least HOST_SIMILARITY, else the least recently used; with none idle, the first to free.
 */
export function hostsChoice(options: readonly SlotOption[], slots: readonly SlotView[], chain: PrefixChain): SlotOption {
  const idle = options.filter((o) => o.queue === 0);
  if (idle.length === 0) return options.reduce((best, o) => (o.waitMs < best.waitMs ? o : best));
  const similar = idle.reduce((best, o) => (o.inSlot.chars > best.inSlot.chars ? o : best));
  if (chain.totalChars > 0 && similar.inSlot.chars / chain.totalChars >= HOST_SIMILARITY) return similar;
  return idle.reduce((lru, o) => (slots[o.slot]!.usedAt < slots[lru.slot]!.usedAt ? o : lru));
}

/**
 * The slot to pin a request to: the lowest cost (the ranking's: the wait there plus the prefill of what it does not
 * count as the conversation's own). Equal costs go to the least recently used slot, so a new conversation takes an
 * empty or stale slot instead of the slot of another that merely shares its system prompt.
 */
export function quickestSlot(options: readonly SlotOption[], slots: readonly SlotView[], costMs: (option: SlotOption) => number): SlotOption {
  let best = options[0]!;
  let bestMs = costMs(best);
  for (const o of options.slice(1)) {
    const ms = costMs(o);
    if (ms < bestMs || (ms === bestMs && slots[o.slot]!.usedAt < slots[best.slot]!.usedAt)) [best, bestMs] = [o, ms];
  }
  return best;
}
