/**
 * What the router knows about each host, behind one small interface: per model, each slot's last prompt and the
 * requests the router has on it, the last `/slots` and router-mode `/v1/models` it was told about, rates learned
 * from answers, and each session's home host. {@link MemorySignals} keeps it per isolate; a Durable Object could
 * implement the same interface later. Time is always passed in (`now`, ms), so tests drive a fake clock.
 */
import type { AnswerTimings, Residency } from "./host-reports.js";
import { PrefixIndex } from "./prefix-index.js";
import type { PrefixChain } from "./prefix.js";
import { commonPrefix, keptShare, RAM_CACHE_BELOW, type PrefixMatch, type SlotView } from "./slots.js";

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
  /**
   * A request of the router's own still counted on a slot that `/slots` shows idle this long after it was sent is
   * over (its end was never seen, e.g. the isolate stopped running it); a younger one may not have reached the host.
   */
  lostAfterMs: 10_000,
  /** Which slots another client keeps busy, from `/slots`, is believed this long. */
  slotsTrustMs: 15_000,
  /** Residency older than this is ignored (the model is assumed loaded). */
  residencyTrustMs: 60_000,
  /** Slots assumed until a host's `/slots` tells (requests are not pinned to a slot meanwhile). */
  slots: 1,
  /** Expected duration of one request (slot held) until answers teach a host's own. */
  serviceMs: 15_000,
  /** Prompt tokens per second until answers teach a host's own. */
  prefillPerSecond: 800,
  /** What loading a model costs a router-mode host before it can start, until a load there teaches its own. */
  loadMs: 10_000,
  charsPerToken: 4,
  /** Prefix hashes of the host's RAM prompt cache remembered per host and model. */
  ramPrefixes: 4_096,
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
  /** The router's requests in flight there, all slots together. */
  inFlight: number;
  /** One per slot: as many as the host's `/slots` reported, else `settings.slots` assumed. */
  slots: readonly SlotView[];
  /** `slots` is the host's own count: a request may be pinned to one of them. */
  slotsKnown: boolean;
  /** Undefined when not a router-mode host, or too old to trust. */
  residency?: Residency;
  /** The host has reported router-mode residency at least once: it loads models on demand. */
  routerMode: boolean;
  prefillPerSecond: number;
  serviceMs: number;
  charsPerToken: number;
  /** How long a load of this model took on this host (learned), else the default. */
  loadMs: number;
}

/** A request that ended; `ok` only when the host answered (a failed attempt teaches nothing but the count). */
export interface FinishedRequest {
  host: HostRef;
  model: string;
  /** The slot it was sent to (pinned), or the one the host was predicted to pick. */
  slot: number;
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
  /** The longest prefix of `chain` the host's RAM prompt cache is thought to hold (prompts its slots saved there). */
  inRam(host: HostRef, model: string, chain: PrefixChain): PrefixMatch;
  /** The host key that served `session` last. */
  home(session: string): string | undefined;
  /**
   * A request with prompt `chain` went to `slot` of `host`: it counts as in flight there, the slot now holds that
   * prompt, and a session's home moves there at once, so its concurrent requests follow it.
   */
  begin(host: HostRef, model: string, slot: number, chain: PrefixChain, now: number, session?: string): void;
  end(finished: FinishedRequest, now: number): void;
  /** A `/slots` answer: whether each slot (by position) is processing, as it was at `now`. From any reader. */
  recordSlots(host: HostRef, model: string, processing: readonly boolean[], now: number): void;
  /**
   * The background refresh read the host's reports asked for at `now`: its slots, and with `withResidency` which
   * models it has loaded (nothing, on a host not in router mode).
   */
  reported(host: HostRef, now: number, options: { withResidency: boolean }): void;
  /** A refresh has read the host's residency at least once: a pool can be ranked knowing what it must load. */
  residencyRead(host: HostRef): boolean;
  recordResidency(host: HostRef, models: ReadonlyMap<string, Residency>, now: number): void;
  /**
   * One model's residency learned from an answer (a router-mode host served it: loaded; refused it because it was
   * not loaded: unloaded), kept until the next full report.
   */
  noteResidency(host: HostRef, model: string, residency: Residency, now: number): void;
  /** True at most once per claim period while the host's reports are stale: the caller then fetches them. */
  needsRefresh(host: HostRef, now: number): boolean;
  /** A request that had to wait for the model to load got its answer's headers after `ms`: the host's load time. */
  learnLoad(host: HostRef, model: string, ms: number): void;
  /** The host went down: whatever it comes back with, its slots and RAM cache are empty. */
  forgetHost(host: HostRef): void;
}

interface SlotState {
  chain?: PrefixChain;
  usedAt: number;
  inFlightSince: number[];
  /** What the host's last `/slots` said of this slot. */
  reportedBusy: boolean;
  /** When the router's last request on this slot ended: a report older than that saw the router's own request. */
  freedAt: number;
}

interface ModelState {
  slots: SlotState[];
  /** Prompts a slot saved to the host's RAM cache before a dissimilar one replaced them. */
  ram: PrefixIndex;
  slotsReportedAt?: number;
  prefillPerSecond?: number;
  serviceMs?: number;
  charsPerToken?: number;
  loadMs?: number;
}

interface HostState {
  residency?: { models: Map<string, Residency>; at: number };
  reportedAt?: number;
  residencyRead?: boolean;
  claimedAt?: number;
}

const emptySlot = (): SlotState => ({ usedAt: -Infinity, inFlightSince: [], reportedBusy: false, freedAt: -Infinity });

export class MemorySignals implements FleetSignals {
  private readonly models = new Map<string, ModelState>();
  private readonly hosts = new Map<string, HostState>();
  private readonly sessions = new Map<string, string>();

  constructor(readonly settings: RoutingSettings = ROUTING_DEFAULTS) {}

  view(host: HostRef, model: string, now: number): HostModelView {
    const s = this.settings;
    const m = this.model(host, model);
    const h = this.hosts.get(hostKey(host));
    const residency = h?.residency && now - h.residency.at < s.residencyTrustMs ? h.residency.models.get(model) : undefined;
    const reportTrusted = m.slotsReportedAt !== undefined && now - m.slotsReportedAt < s.slotsTrustMs;
    return {
      inFlight: m.slots.reduce((n, slot) => n + slot.inFlightSince.length, 0),
      // Busy in a report taken after the router's own last request there ended: another client's request.
      slots: m.slots.map((slot) => ({ ...slot, foreignBusy: reportTrusted && slot.reportedBusy && slot.inFlightSince.length === 0 && m.slotsReportedAt! > slot.freedAt })),
      slotsKnown: m.slotsReportedAt !== undefined,
      residency,
      routerMode: h?.residency !== undefined,
      prefillPerSecond: m.prefillPerSecond ?? s.prefillPerSecond,
      serviceMs: m.serviceMs ?? s.serviceMs,
      charsPerToken: m.charsPerToken ?? s.charsPerToken,
      loadMs: m.loadMs ?? s.loadMs,
    };
  }

  learnLoad(host: HostRef, model: string, ms: number): void {
    const m = this.model(host, model);
    m.loadMs = learn(m.loadMs, ms, this.settings.learnWeight);
  }

  forgetHost(host: HostRef): void {
    const prefix = `${hostKey(host)}\u0000`;
    for (const [key, m] of this.models) if (key.startsWith(prefix)) forget(m);
  }

  inRam(host: HostRef, model: string, chain: PrefixChain): PrefixMatch {
    return this.model(host, model).ram.longest(chain);
  }

  home(session: string): string | undefined {
    return this.sessions.get(session);
  }

  begin(host: HostRef, model: string, slot: number, chain: PrefixChain, now: number, session?: string): void {
    const m = this.model(host, model);
    const state = m.slots[slot];
    if (state) {
      state.inFlightSince.push(now);
      state.usedAt = now;
      // The host saves the slot's prompt to RAM when the new one keeps less than half of it (see slots.ts).
      if (state.chain && keptShare(state.chain, commonPrefix(state.chain, chain)) < RAM_CACHE_BELOW) m.ram.record(state.chain);
      state.chain = chain;
    }
    if (session) this.setHome(session, host);
  }

  private setHome(session: string, host: HostRef): void {
    this.sessions.delete(session);
    this.sessions.set(session, hostKey(host));
    if (this.sessions.size > this.settings.sessionCapacity) this.sessions.delete(this.sessions.keys().next().value!);
  }

  end(f: FinishedRequest, now: number): void {
    const m = this.model(f.host, f.model);
    const slot = m.slots[f.slot];
    if (slot) {
      const sent = slot.inFlightSince.indexOf(f.startedAt);
      if (sent >= 0) slot.inFlightSince.splice(sent, 1);
      slot.freedAt = now;
    }
    if (!f.ok) {
      // What the slot holds after a failure is unknown; a home that failed is no home.
      if (slot) slot.chain = undefined;
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
      // Predicted warm, came back (nearly) cold: the host restarted or dropped its caches, so no other slot's
      // content can be trusted either.
      if (f.predictedCachedTokens >= s.minRateTokens && t.cachedTokens * 10 < f.predictedCachedTokens) {
        forget(m);
        // What is known again: this answer's slot holds its prompt, unless a later request took the slot.
        if (slot && slot.inFlightSince.length === 0) slot.chain = f.chain;
      }
    }
    // The slot has held this prompt since `begin`; a router-mode host that answered has the model loaded.
    this.noteResidency(f.host, f.model, "loaded", now);
  }

  recordSlots(host: HostRef, model: string, processing: readonly boolean[], now: number): void {
    if (processing.length === 0) return;
    const m = this.model(host, model);
    // Two readers (the routing refresh, the catalog) may answer out of order: the older picture never wins.
    if (m.slotsReportedAt !== undefined && now < m.slotsReportedAt) return;
    // The host's own count: a restart with another `-np` shows here.
    while (m.slots.length < processing.length) m.slots.push(emptySlot());
    m.slots.length = processing.length;
    processing.forEach((busy, i) => {
      const slot = m.slots[i]!;
      slot.reportedBusy = busy;
      if (!busy) slot.inFlightSince = slot.inFlightSince.filter((sent) => now - sent < this.settings.lostAfterMs);
    });
    m.slotsReportedAt = now;
  }

  reported(host: HostRef, now: number, options: { withResidency: boolean }): void {
    const h = this.host(host);
    h.reportedAt = Math.max(h.reportedAt ?? now, now);
    if (options.withResidency) h.residencyRead = true;
  }

  residencyRead(host: HostRef): boolean {
    return this.hosts.get(hostKey(host))?.residencyRead === true;
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
    const m = this.models.get(modelKey(host, model));
    if (m) forget(m);
  }

  private model(host: HostRef, model: string): ModelState {
    const key = modelKey(host, model);
    let m = this.models.get(key);
    if (!m) this.models.set(key, (m = { slots: Array.from({ length: Math.max(1, this.settings.slots) }, emptySlot), ram: new PrefixIndex(this.settings.ramPrefixes) }));
    return m;
  }

  private host(host: HostRef): HostState {
    const key = hostKey(host);
    let h = this.hosts.get(key);
    if (!h) this.hosts.set(key, (h = {}));
    return h;
  }
}

/** Every slot's and the RAM cache's content is unknown again (a restart, an unload). */
function forget(m: ModelState): void {
  for (const slot of m.slots) slot.chain = undefined;
  m.ram.clear();
}

const modelKey = (host: HostRef, model: string) => `${hostKey(host)}\u0000${model}`;
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const learn = (old: number | undefined, sample: number, weight: number) => (old === undefined ? sample : old + weight * (sample - old));
