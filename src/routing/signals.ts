/**
 * What the router knows about each host, behind one small interface: in-flight requests it sent itself, the last
 * `/slots` and router-mode `/v1/models` it was told about, rates learned from answers, each host's prefix index and
 * each session's home host. {@link MemorySignals} keeps it per isolate; a Durable Object could implement the same
 * interface later. Time is always passed in (`now`, ms), so tests drive a fake clock.
 */
import type { AnswerTimings, Residency, SlotUse } from "./host-reports.js";
import { PrefixIndex, type PrefixMatch } from "./prefix-index.js";
import type { PrefixChain } from "./prefix.js";

/** A host is its id AND address: a config that moves a provider to a new URL starts with a clean slate. */
export interface HostRef {
  id: string;
  baseUrl: string;
}

export const hostKey = (host: HostRef): string => `${host.id} ${host.baseUrl}`;

export const ROUTING_DEFAULTS = {
  /** `/slots` and `/v1/models` older than this are refreshed (the stale figures are used meanwhile). */
  refreshAfterMs: 2_000,
  /** A refresh that was asked for and never recorded is asked for again after this long. */
  refreshClaimMs: 10_000,
  /** Slot figures older than this are ignored (in-flight counts alone are used). */
  slotsTrustMs: 15_000,
  /** Residency older than this is ignored (the model is assumed loaded). */
  residencyTrustMs: 60_000,
  /** Slots assumed when a host's `/slots` is unknown. */
  slots: 1,
  /** Expected duration of one request (slot held) until answers teach a host's own. */
  serviceMs: 15_000,
  /** Prompt tokens per second until answers teach a host's own. */
  prefillPerSecond: 800,
  /** What loading a model costs a router-mode host before it can start. */
  loadMs: 20_000,
  charsPerToken: 4,
  /** Prefix hashes remembered per host and model. */
  prefixCapacity: 2_048,
  /** Sessions whose home host is remembered. */
  sessionCapacity: 4_096,
  /** Weight of the newest sample in the learned averages. */
  learnWeight: 0.3,
  /** A prefill rate is learned only from answers that computed at least this many tokens (tiny ones are noise). */
  minRateTokens: 64,
};
export type RoutingSettings = typeof ROUTING_DEFAULTS;

/** What ranking reads about one model on one host. */
export interface HostModelView {
  inFlight: number;
  /** When each request in flight was sent (ms, oldest first): a request that has run long is likely to run on. */
  inFlightSince: readonly number[];
  /** Undefined when never reported or too old to trust. */
  slots?: SlotUse;
  /** Undefined when not a router-mode host, or too old to trust. */
  residency?: Residency;
  /** The host has reported router-mode residency at least once: it loads models on demand. */
  routerMode: boolean;
  prefillPerSecond: number;
  serviceMs: number;
  charsPerToken: number;
}

/** A request that ended; `ok` only when the host answered (a failed attempt teaches nothing but the count). */
export interface FinishedRequest {
  host: HostRef;
  model: string;
  startedAt: number;
  ok: boolean;
  session?: string;
  chain: PrefixChain;
  /** Cached tokens the ranking expected on this host. */
  predictedCachedTokens: number;
  timings?: AnswerTimings;
}

export interface FleetSignals {
  view(host: HostRef, model: string, now: number): HostModelView;
  cachedPrefix(host: HostRef, model: string, chain: PrefixChain): PrefixMatch;
  /** The host key that served `session` last. */
  home(session: string): string | undefined;
  /** A request went to `host`; a session's home moves there at once, so its concurrent requests follow it. */
  begin(host: HostRef, model: string, now: number, session?: string): void;
  end(finished: FinishedRequest, now: number): void;
  /** `model` undefined: the figures are the whole host's (a single-model host). */
  recordSlots(host: HostRef, model: string | undefined, slots: SlotUse, now: number): void;
  recordResidency(host: HostRef, models: ReadonlyMap<string, Residency>, now: number): void;
  /**
   * One model's residency learned from an answer (a router-mode host served it: loaded; refused it because it was
   * not loaded: unloaded), kept until the next full report.
   */
  noteResidency(host: HostRef, model: string, residency: Residency, now: number): void;
  /** True at most once per claim period while the host's reports are stale: the caller then fetches them. */
  needsRefresh(host: HostRef, now: number): boolean;
}

interface ModelState {
  /** Send times of the requests in flight, oldest first. */
  inFlight: number[];
  slots?: { use: SlotUse; at: number };
  prefillPerSecond?: number;
  serviceMs?: number;
  charsPerToken?: number;
  prefixes: PrefixIndex;
}

interface HostState {
  slots?: { use: SlotUse; at: number };
  residency?: { models: Map<string, Residency>; at: number };
  reportedAt?: number;
  claimedAt?: number;
}

export class MemorySignals implements FleetSignals {
  private readonly models = new Map<string, ModelState>();
  private readonly hosts = new Map<string, HostState>();
  private readonly sessions = new Map<string, string>();

  constructor(readonly settings: RoutingSettings = ROUTING_DEFAULTS) {}

  view(host: HostRef, model: string, now: number): HostModelView {
    const s = this.settings;
    const m = this.models.get(modelKey(host, model));
    const h = this.hosts.get(hostKey(host));
    const slots = m?.slots ?? h?.slots;
    const residency = h?.residency && now - h.residency.at < s.residencyTrustMs ? h.residency.models.get(model) : undefined;
    return {
      inFlight: m?.inFlight.length ?? 0,
      inFlightSince: m?.inFlight ?? NONE,
      slots: slots && now - slots.at < s.slotsTrustMs ? slots.use : undefined,
      residency,
      routerMode: h?.residency !== undefined,
      prefillPerSecond: m?.prefillPerSecond ?? s.prefillPerSecond,
      serviceMs: m?.serviceMs ?? s.serviceMs,
      charsPerToken: m?.charsPerToken ?? s.charsPerToken,
    };
  }

  cachedPrefix(host: HostRef, model: string, chain: PrefixChain): PrefixMatch {
    const m = this.models.get(modelKey(host, model));
    return m ? m.prefixes.longest(chain) : { blocks: 0, chars: 0 };
  }

  home(session: string): string | undefined {
    return this.sessions.get(session);
  }

  begin(host: HostRef, model: string, now: number, session?: string): void {
    this.model(host, model).inFlight.push(now);
    if (session) this.setHome(session, host);
  }

  private setHome(session: string, host: HostRef): void {
    this.sessions.delete(session);
    this.sessions.set(session, hostKey(host));
    if (this.sessions.size > this.settings.sessionCapacity) this.sessions.delete(this.sessions.keys().next().value!);
  }

  end(f: FinishedRequest, now: number): void {
    const m = this.model(f.host, f.model);
    const sent = m.inFlight.indexOf(f.startedAt);
    m.inFlight.splice(sent >= 0 ? sent : 0, 1);
    if (!f.ok) {
      // A home that failed is no home: the session's next request is ranked afresh.
      if (f.session && this.sessions.get(f.session) === hostKey(f.host)) this.sessions.delete(f.session);
      return;
    }
    const s = this.settings;
    m.serviceMs = learn(m.serviceMs, Math.max(0, now - f.startedAt), s.learnWeight);
    if (f.session) this.setHome(f.session, f.host);
    const t = f.timings;
    if (t) {
      if (t.prefillPerSecond && t.computedTokens >= s.minRateTokens) m.prefillPerSecond = learn(m.prefillPerSecond, t.prefillPerSecond, s.learnWeight);
      const tokens = t.cachedTokens + t.computedTokens;
      if (tokens >= s.minRateTokens && f.chain.totalChars > 0) m.charsPerToken = learn(m.charsPerToken, clamp(f.chain.totalChars / tokens, 1, 12), s.learnWeight);
      // Predicted warm, came back (nearly) cold: the host restarted or evicted what it had, so nothing else indexed
      // for it can be trusted either.
      if (f.predictedCachedTokens >= s.minRateTokens && t.cachedTokens * 10 < f.predictedCachedTokens) m.prefixes.clear();
    }
    // The host's slot now holds this whole prompt, and a router-mode host has the model loaded.
    m.prefixes.record(f.chain);
    this.noteResidency(f.host, f.model, "loaded", now);
  }

  recordSlots(host: HostRef, model: string | undefined, use: SlotUse, now: number): void {
    if (model === undefined) this.host(host).slots = { use, at: now };
    else this.model(host, model).slots = { use, at: now };
    this.host(host).reportedAt = now;
  }

  recordResidency(host: HostRef, models: ReadonlyMap<string, Residency>, now: number): void {
    const h = this.host(host);
    for (const [model, residency] of models) if (residency !== "loaded") this.unloaded(host, model);
    h.residency = { models: new Map(models), at: now };
    h.reportedAt = now;
  }

  noteResidency(host: HostRef, model: string, residency: Residency, now: number): void {
    const h = this.hosts.get(hostKey(host));
    // Only a host known to be in router mode has residency; a single-model host's answer says nothing new.
    if (!h?.residency) return;
    if (residency !== "loaded") this.unloaded(host, model);
    h.residency.models.set(model, residency);
    // A fresh fact about this model, not a fresh report: the others' figures keep their age.
    if (now - h.residency.at >= this.settings.residencyTrustMs) h.residency = { models: new Map([[model, residency]]), at: now };
  }

  needsRefresh(host: HostRef, now: number): boolean {
    const h = this.host(host);
    const fresh = h.reportedAt !== undefined && now - h.reportedAt < this.settings.refreshAfterMs;
    const claimed = h.claimedAt !== undefined && now - h.claimedAt < this.settings.refreshClaimMs && (h.reportedAt === undefined || h.reportedAt < h.claimedAt);
    if (fresh || claimed) return false;
    h.claimedAt = now;
    return true;
  }

  /** An unloaded model's process is gone, and with it every prompt it had cached. */
  private unloaded(host: HostRef, model: string): void {
    this.models.get(modelKey(host, model))?.prefixes.clear();
  }

  private model(host: HostRef, model: string): ModelState {
    const key = modelKey(host, model);
    let m = this.models.get(key);
    if (!m) this.models.set(key, (m = { inFlight: [], prefixes: new PrefixIndex(this.settings.prefixCapacity) }));
    return m;
  }

  private host(host: HostRef): HostState {
    const key = hostKey(host);
    let h = this.hosts.get(key);
    if (!h) this.hosts.set(key, (h = {}));
    return h;
  }
}

const NONE: readonly number[] = [];
const modelKey = (host: HostRef, model: string) => `${hostKey(host)}\u0000${model}`;
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const learn = (old: number | undefined, sample: number, weight: number) => (old === undefined ? sample : old + weight * (sample - old));
