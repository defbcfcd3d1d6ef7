/**
 * The prompts one host (for one model) holds in its RAM prompt cache, as a bounded LRU of prefix hashes: every
 * prefix of each prompt a slot saved there. A match is probably still cached; answers' `cache_n` correct the guess
 * (see signals.ts).
 */
import type { PrefixChain } from "./prefix.js";
import { NO_MATCH, type PrefixMatch } from "./slots.js";

export class PrefixIndex {
  /** hash -> characters of that prefix; Map order is recency order (oldest first). */
  private readonly entries = new Map<number, number>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The longest prefix of `chain` this host has: scanned from the longest down, so a hit costs one lookup. */
  longest(chain: PrefixChain): PrefixMatch {
    for (let i = chain.hashes.length - 1; i >= 0; i--) {
      if (this.entries.has(chain.hashes[i]!)) return { blocks: i + 1, chars: chain.chars[i]! };
    }
    return NO_MATCH;
  }

  /** Records every prefix of `chain` as the most recent, evicting the least recently sent beyond capacity. */
  record(chain: PrefixChain): void {
    for (let i = 0; i < chain.hashes.length; i++) {
      const hash = chain.hashes[i]!;
      this.entries.delete(hash);
      this.entries.set(hash, chain.chars[i]!);
    }
    let excess = this.entries.size - this.capacity;
    if (excess <= 0) return;
    for (const hash of this.entries.keys()) {
      this.entries.delete(hash);
      if (--excess === 0) break;
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
