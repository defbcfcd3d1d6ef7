/**
 * Fleet-aware routing: which candidate of a request should answer first. The request path calls
 * {@link FleetRouter.rank} after resolving, {@link FleetRouter.begin} when it sends to a host and
 * {@link FleetRouter.end} when that attempt is over (with the answer's timings when it had them). Reports from the
 * hosts (`/slots`, router-mode `/v1/models`) are fetched by the caller in the background when
 * {@link FleetRouter.needsRefresh} says so. No Workers API in here.
 */
import type { AnswerTimings, Residency } from "./host-reports.js";
import { parseResidency, parseSlotStates } from "./host-reports.js";
import type { PrefixChain } from "./prefix.js";
import { rankCandidates, type Candidate, type Estimate, type RankRequest, type Ranking } from "./rank.js";
import { MemorySignals, ROUTING_DEFAULTS, type FleetSignals, type HostRef, type RoutingSettings } from "./signals.js";

export { parseResidency, parseSlots, parseSlotStates, parseTimings } from "./host-reports.js";
export type { AnswerTimings, Residency, SlotUse } from "./host-reports.js";
export { EMPTY_CHAIN, prefixChain, spreadKey } from "./prefix.js";
export type { PrefixChain, PromptApi } from "./prefix.js";
export { MIN_COUNTED_SHARE, TIE_MS, WARM_SHARE } from "./rank.js";
export type { CacheState, Candidate, Estimate, LoadState, RankRequest, Ranking } from "./rank.js";
export { attemptPlan } from "./plan.js";
export type { PlannedAttempt } from "./plan.js";
export { commonPrefix, slotWait } from "./slots.js";
export type { PrefixMatch, SlotView } from "./slots.js";
export { MemorySignals, ROUTING_DEFAULTS, hostKey } from "./signals.js";
export type { FinishedRequest, FleetSignals, HostModelView, HostRef, RoutingSettings } from "./signals.js";

/** One attempt on one host, from begin to end. */
export interface Attempt {
  readonly host: HostRef;
  readonly model: string;
  /** The slot it went to: `id_slot` when `pinned`, else the one the host was predicted to pick. */
  readonly slot: number;
  readonly pinned: boolean;
  readonly startedAt: number;
  readonly session?: string;
  readonly chain: PrefixChain;
  readonly predictedCachedTokens: number;
  readonly reason: string;
  /** The ranking expected a model load first (router mode, not loaded or loading). */
  readonly loads: boolean;
  ended: boolean;
}

export class FleetRouter {
  constructor(
    readonly signals: FleetSignals = new MemorySignals(),
    readonly settings: RoutingSettings = ROUTING_DEFAULTS,
  ) {}

  /** The candidates best first (replicas) or in config order (ordered), each with its estimate and reason. */
  rank<T extends Candidate>(request: RankRequest<T>, now: number): Ranking<T> {
    return rankCandidates(request, this.signals, this.settings, now);
  }

  /** Call when a request is sent to `route` (one of the ranking's candidates): it counts as in flight there. */
  begin<T extends Candidate>(ranking: Ranking<T>, route: T, now: number): Attempt {
    const e: Estimate<T> | undefined = ranking.order.find((x) => x.route === route);
    const slot = e?.slot ?? 0;
    this.signals.begin(route.provider, route.upstream, slot, ranking.chain, now, ranking.session);
    return {
      host: route.provider,
      model: route.upstream,
      slot,
      pinned: e?.pinned ?? false,
      startedAt: now,
      session: ranking.session,
      chain: ranking.chain,
      predictedCachedTokens: e?.predictedCachedTokens ?? 0,
      reason: e?.reason ?? route.id,
      loads: e !== undefined && e.load !== "none",
      ended: false,
    };
  }

  /**
   * Call once the attempt is over: `ok` when the host answered (streamed to the end, or a full body), with the
   * answer's timings when it had them (parseTimings of the body or the final stream chunk). A second call is ignored,
   * so a cancellation and a stream's end may both call it.
   */
  end(attempt: Attempt, outcome: { ok: boolean; timings?: AnswerTimings }, now: number): void {
    if (attempt.ended) return;
    attempt.ended = true;
    this.signals.end({ ...attempt, ok: outcome.ok, timings: outcome.timings }, now);
  }

  /** An attempt found the host down: it may come back empty, so what its slots held is forgotten. */
  hostDown(host: HostRef): void {
    this.signals.forgetHost(host);
  }

  /** The answer's headers came `headersMs` after sending, for an attempt the ranking knew needed a model load. */
  loaded(attempt: Attempt, headersMs: number): void {
    this.signals.learnLoad(attempt.host, attempt.model, headersMs);
  }

  needsRefresh(host: HostRef, now: number): boolean {
    return this.signals.needsRefresh(host, now);
  }

  /** A `/slots` answer (JSON) for `model` (a single-model host's are its model's). Unreadable: ignored. */
  recordSlots(host: HostRef, model: string, body: unknown, now: number): void {
    const processing = parseSlotStates(body);
    if (processing) this.signals.recordSlots(host, model, processing, now);
  }

  /** A router-mode `/v1/models` answer (JSON). A single-model host's list records nothing. */
  recordResidency(host: HostRef, body: unknown, now: number): ReadonlyMap<string, Residency> {
    const models = parseResidency(body);
    if (models.size > 0) this.signals.recordResidency(host, models, now);
    return models;
  }
}

/** The isolate's router state (like the recent-failures memory): one per Worker isolate. */
export const fleet = new FleetRouter();
