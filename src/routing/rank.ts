/**
 * Ranking a request's candidates by expected time to first token:
 *   wait for a free slot + uncached prompt tokens / the host's prefill rate + model load time (router mode).
 * `replicas` pools are reordered by it; `ordered` pools keep config order (the order is a quality choice) and only
 * get the estimates, for the route header and log line. Pure: signals and the clock are passed in.
 */
import type { AliasPolicy } from "../config/aliases.js";
import { orderForSession } from "../resolver/affinity.js";
import type { PrefixChain } from "./prefix.js";
import { EMPTY_CHAIN, spreadKey } from "./prefix.js";
import { hostKey, type FleetSignals, type HostRef, type RoutingSettings } from "./signals.js";
import { hostsChoice, NO_MATCH, quickestSlot, slotOptions, type PrefixMatch } from "./slots.js";

/** What ranking needs of a candidate; the resolver's ModelRoute is one. */
export interface Candidate {
  /** Composite id, shown in the reason. */
  id: string;
  provider: HostRef;
  /** The model name the host knows (what slots, residency and prefixes are keyed by). */
  upstream: string;
}

export interface RankRequest<T extends Candidate> {
  candidates: readonly T[];
  policy: AliasPolicy;
  session?: string;
  chain?: PrefixChain;
  /** The API honours `id_slot` and the client set none: the router picks the slot (see slots.ts). */
  pinnable?: boolean;
}

export type CacheState = "warm" | "partial" | "cold";
export type LoadState = "none" | "needed" | "loading";

export interface Estimate<T extends Candidate> {
  route: T;
  /** Expected time to first token: the wait for the slot, the prefill of what is not cached there, a model load. */
  ttftMs: number;
  /**
   * The same, counting a cached prefix only beyond block 0 (tools + system prompt) and from MIN_COUNTED_SHARE of the
   * prompt: what a NEW conversation is ranked by, so that conversations sharing only a system prompt spread over the
   * hosts instead of all going where that prompt is cached.
   */
  ownTtftMs: number;
  /** This host's model load time as learned (or assumed) when the model is not loaded. */
  loadIfNeededMs: number;
  /** The slot the request would take: pinned there (`id_slot`) when `pinned`, else the one the host is predicted to pick. */
  slot: number;
  pinned: boolean;
  /** Requests predicted to be ahead of this one for that slot. */
  queue: number;
  /** The host has an idle slot. */
  freeSlot: boolean;
  load: LoadState;
  /**
   * A router-mode host (it loads models on demand). While `load` is `none` the router only believes the model is
   * loaded there; the request path asks such a host not to load it (see docs/architecture.md, "Fleet routing").
   */
  routerMode: boolean;
  /** How the cached prefix counted in the ranking. */
  cache: CacheState;
  /** Prompt tokens the host is expected to find cached (compare with the answer's `timings.cache_n`). */
  predictedCachedTokens: number;
  promptTokens: number;
  /** This host is the session's home (served it last, or its rendezvous choice). */
  home: boolean;
  /** The wait for a slot plus a model load: what staying costs when the prompt is cached there. */
  waitMs: number;
  /** For the `x-boocode-route` header and the log line: `gpu/qwen; cache=warm; queue=0`. */
  reason: string;
}

export interface Ranking<T extends Candidate> {
  policy: AliasPolicy;
  /** Best first. */
  order: Estimate<T>[];
  session?: string;
  chain: PrefixChain;
}

/** A match is the conversation's own beyond block 0 (tools + system prompt) and from this share of the prompt. */
export const MIN_COUNTED_SHARE = 0.25;
/** An own match covering this share of the prompt is `warm`, less is `partial`. */
export const WARM_SHARE = 0.8;
/** Estimates this close to the quickest are equal; the session's home, then the spread hash, then config order decide. */
export const TIE_MS = 50;

export function rankCandidates<T extends Candidate>(request: RankRequest<T>, signals: FleetSignals, settings: RoutingSettings, now: number): Ranking<T> {
  const chain = request.chain ?? EMPTY_CHAIN;
  const { candidates, policy, session } = request;
  const homeKey = session ? homeOf(session, candidates, signals) : undefined;
  const estimates = candidates.map((route) => estimate(route, request, chain, signals, settings, now, homeKey));
  const ranking = { policy, session, chain };
  if (policy === "ordered" || estimates.length < 2) return { ...ranking, order: estimates };

  const spread = new Map(orderForSession(candidates, spreadKey(session, chain)).map((route, i) => [route, i]));
  const configIndex = new Map(candidates.map((route, i) => [route, i]));
  // A conversation some host holds beyond block 0 is ranked by the true start everywhere (a shared system prompt
  // cached elsewhere makes moving cheaper); a new one by what is its own, so new conversations spread.
  const continuing = estimates.some((e) => e.cache !== "cold");
  const cost = (e: Estimate<T>) => (continuing ? e.ttftMs : e.ownTtftMs);
  const tieBreak = (a: Estimate<T>, b: Estimate<T>) =>
    Number(b.home) - Number(a.home) || spread.get(a.route)! - spread.get(b.route)! || configIndex.get(a.route)! - configIndex.get(b.route)!;
  // Ties are judged against the quickest estimate, not by rounding each one (24 and 26 ms would round apart).
  const byCost = [...estimates].sort((a, b) => cost(a) - cost(b) || tieBreak(a, b));
  const quickest = cost(byCost[0]!);
  const tied = byCost.filter((e) => cost(e) - quickest <= TIE_MS).sort(tieBreak);
  const sorted = [...tied, ...byCost.filter((e) => cost(e) - quickest > TIE_MS)];
  return { ...ranking, order: loadedAndFreeFirst(homeFirst(sorted)) };
}

/**
 * A session's home holds its conversation even where the prefixes cannot tell (what an agent's requests share
 * beyond what the router has seen), so the session stays there unless waiting there costs more than the quickest
 * start anywhere else, prefill of what is not cached there included.
 */
function homeFirst<T extends Candidate>(sorted: Estimate<T>[]): Estimate<T>[] {
  const home = sorted.find((e) => e.home);
  if (!home || sorted[0] === home) return sorted;
  const quickestElsewhere = Math.min(...sorted.filter((e) => e !== home).map((e) => e.ttftMs));
  return home.waitMs <= quickestElsewhere ? [home, ...sorted.filter((e) => e !== home)] : sorted;
}

/** The host that served the session last if it is a candidate, else the session's rendezvous choice. */
function homeOf<T extends Candidate>(session: string, candidates: readonly T[], signals: FleetSignals): string | undefined {
  const last = signals.home(session);
  if (last && candidates.some((c) => hostKey(c.provider) === last)) return last;
  const first = orderForSession(candidates, session)[0];
  return first && hostKey(first.provider);
}

function estimate<T extends Candidate>(route: T, request: RankRequest<T>, chain: PrefixChain, signals: FleetSignals, s: RoutingSettings, now: number, homeKey: string | undefined): Estimate<T> {
  const v = signals.view(route.provider, route.upstream, now);
  const promptTokens = chain.totalChars / v.charsPerToken;
  const tokensMs = (chars: number) => (chars / v.charsPerToken / v.prefillPerSecond) * 1000;
  const prefillMs = (match: PrefixMatch) => tokensMs(chain.totalChars - match.chars);
  // Only a match beyond block 0 (the system prompt every conversation of an agent shares) and of some size is the
  // conversation's own.
  const own = (match: PrefixMatch) => (match.blocks >= 2 && match.chars >= MIN_COUNTED_SHARE * chain.totalChars ? match : NO_MATCH);
  const options = slotOptions(v.slots, chain, v.serviceMs, now, () => signals.inRam(route.provider, route.upstream, chain));
  const pinned = (request.pinnable ?? false) && v.slotsKnown;
  const chosen = pinned ? quickestSlot(options, v.slots, (o) => o.waitMs + prefillMs(own(o.match))) : hostsChoice(options, v.slots, chain);

  const load: LoadState = v.residency === "unloaded" ? "needed" : v.residency === "loading" ? "loading" : "none";
  const loadMs = load === "needed" ? v.loadMs : load === "loading" ? v.loadMs / 2 : 0;
  const matchedTokens = chosen.match.chars / v.charsPerToken;
  const cache: CacheState = own(chosen.match) === NO_MATCH ? "cold" : matchedTokens >= WARM_SHARE * promptTokens ? "warm" : "partial";
  // What the host will reuse is the whole common prefix, a shared system prompt included.
  const ttftMs = chosen.waitMs + prefillMs(chosen.match) + loadMs;
  const home = homeKey !== undefined && hostKey(route.provider) === homeKey;
  const reason = [route.id, `cache=${cache}`, `queue=${chosen.queue}`, ...(load === "none" ? [] : [`load=${load}`]), ...(request.policy === "ordered" ? ["policy=ordered"] : [])].join("; ");
  return {
    route,
    ttftMs,
    ownTtftMs: chosen.waitMs + prefillMs(own(chosen.match)) + loadMs,
    loadIfNeededMs: v.loadMs,
    slot: chosen.slot,
    pinned,
    queue: chosen.queue,
    freeSlot: options.some((o) => o.queue === 0),
    load,
    routerMode: v.routerMode,
    cache,
    // What the host will reuse: the whole common prefix, system prompt included (compare with `timings.cache_n`).
    predictedCachedTokens: Math.round(matchedTokens),
    promptTokens: Math.round(promptTokens),
    home,
    waitMs: chosen.waitMs + loadMs,
    reason,
  };
}

/**
 * A host that must load the model never ranks above one that has it loaded and a slot free, whatever the
 * estimates say (a load time is a guess; a loaded, idle host is a fact). Such hosts move to just after the last
 * loaded-and-free one; everything else keeps its order.
 */
function loadedAndFreeFirst<T extends Candidate>(sorted: Estimate<T>[]): Estimate<T>[] {
  const ready = (e: Estimate<T>) => e.load === "none" && e.freeSlot;
  let lastReady = -1;
  sorted.forEach((e, i) => {
    if (ready(e)) lastReady = i;
  });
  if (lastReady < 0) return sorted;
  const head = sorted.slice(0, lastReady + 1);
  const moved = head.filter((e) => e.load !== "none");
  if (moved.length === 0) return sorted;
  return [...head.filter((e) => e.load === "none"), ...moved, ...sorted.slice(lastReady + 1)];
}
