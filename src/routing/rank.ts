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
}

export type CacheState = "warm" | "partial" | "cold";
export type LoadState = "none" | "needed" | "loading";

export interface Estimate<T extends Candidate> {
  route: T;
  ttftMs: number;
  /** Requests predicted to be ahead of this one for a slot. */
  queue: number;
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

/** A match must cover more than block 0 (tools + system prompt) and this share of the prompt to count. */
export const MIN_COUNTED_SHARE = 0.25;
/** A counted match covering this share of the prompt is `warm`, less is `partial`. */
export const WARM_SHARE = 0.8;
/** Estimates this close are equal; the session's home, then the spread hash, then config order decide. */
export const TIE_MS = 50;

export function rankCandidates<T extends Candidate>(request: RankRequest<T>, signals: FleetSignals, settings: RoutingSettings, now: number): Ranking<T> {
  const chain = request.chain ?? EMPTY_CHAIN;
  const { candidates, policy, session } = request;
  const homeKey = session ? homeOf(session, candidates, signals) : undefined;
  const estimates = candidates.map((route) => estimate(route, chain, signals, settings, now, homeKey, policy));
  const ranking = { policy, session, chain };
  if (policy === "ordered" || estimates.length < 2) return { ...ranking, order: estimates };

  const spread = new Map(orderForSession(candidates, spreadKey(session, chain)).map((route, i) => [route, i]));
  const configIndex = new Map(candidates.map((route, i) => [route, i]));
  const sorted = [...estimates].sort(
    (a, b) =>
      Math.round(a.ttftMs / TIE_MS) - Math.round(b.ttftMs / TIE_MS) ||
      Number(b.home) - Number(a.home) ||
      spread.get(a.route)! - spread.get(b.route)! ||
      configIndex.get(a.route)! - configIndex.get(b.route)!,
  );
  return { ...ranking, order: loadedAndFreeFirst(homeFirst(sorted)) };
}

/**
 * A session's home holds its conversation even where the prefix index cannot tell (what an agent's requests share
 * beyond the first block), so the session stays there unless waiting there costs more than the quickest start
 * anywhere else, cold prefill included.
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

function estimate<T extends Candidate>(route: T, chain: PrefixChain, signals: FleetSignals, s: RoutingSettings, now: number, homeKey: string | undefined, policy: AliasPolicy): Estimate<T> {
  const v = signals.view(route.provider, route.upstream, now);
  const total = Math.max(1, v.slots?.total ?? s.slots);
  const occupied = Math.max(v.inFlight, v.slots?.busy ?? 0);
  const queue = Math.max(0, occupied - total + 1);
  const waitMs = queue === 0 ? 0 : slotWait(v.inFlightSince, occupied, total, v.serviceMs, now);

  const promptTokens = chain.totalChars / v.charsPerToken;
  const match = signals.cachedPrefix(route.provider, route.upstream, chain);
  const matchedTokens = match.chars / v.charsPerToken;
  // Block 0 alone is the system prompt every conversation of an agent shares: counting it would pin all of them
  // to one host, so it (and any short match) earns nothing here.
  const counts = match.blocks >= 2 && matchedTokens >= MIN_COUNTED_SHARE * promptTokens;
  const cache: CacheState = !counts ? "cold" : matchedTokens >= WARM_SHARE * promptTokens ? "warm" : "partial";
  const prefillMs = ((promptTokens - (counts ? matchedTokens : 0)) / v.prefillPerSecond) * 1000;

  const load: LoadState = v.residency === "unloaded" ? "needed" : v.residency === "loading" ? "loading" : "none";
  const loadMs = load === "needed" ? s.loadMs : load === "loading" ? s.loadMs / 2 : 0;

  const home = homeKey !== undefined && hostKey(route.provider) === homeKey;
  const predictedCachedTokens = Math.round(matchedTokens);
  const reason = [route.id, `cache=${cache}`, `queue=${queue}`, ...(load === "none" ? [] : [`load=${load}`]), ...(policy === "ordered" ? ["policy=ordered"] : [])].join("; ");
  return { route, ttftMs: waitMs + prefillMs + loadMs, queue, freeSlot: queue === 0, load, routerMode: v.routerMode, cache, predictedCachedTokens, promptTokens: Math.round(promptTokens), home, waitMs: waitMs + loadMs, reason };
}

/**
 * How long until a slot frees for one more request, when every slot is taken. Each request the router has in flight
 * is expected to run on for `max(serviceMs - elapsed, elapsed)`: an average one finishes on time, while one that has
 * already run far longer than usual (a long generation) is likely to run about as long again. Requests the router
 * does not know (`/slots` busier than its own count: other clients) take an average `serviceMs`. The oldest requests
 * hold the slots; the rest queue at the host and each take a slot for `serviceMs` as one frees, in order.
 */
export function slotWait(inFlightSince: readonly number[], occupied: number, total: number, serviceMs: number, now: number): number {
  const running = [...inFlightSince].sort((x, y) => x - y).slice(0, total);
  const freeAt = running.map((sent) => Math.max(serviceMs - (now - sent), now - sent));
  while (freeAt.length < total) freeAt.push(serviceMs);
  // Hand each slot that frees to the next queued request (occupied - total of them), earliest slot first.
  for (let queued = occupied - total; queued > 0; queued--) {
    freeAt.sort((x, y) => x - y);
    freeAt[0]! += serviceMs;
  }
  return Math.min(...freeAt);
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
