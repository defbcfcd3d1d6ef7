/**
 * The public view of the fleet: the only facts the status page and its `/status.json` may show anyone. Built by
 * picking fields one by one (never by spreading a catalog entry), so a field added to the catalog later, such as a
 * host's error text, cannot reach a stranger by accident. No base URL, no error text, no secret's name or value.
 */
import { HOST_PROBLEMS, HOST_STATUSES, type HostProblem } from "../catalog/catalog.js";
import { aliasMembers, type AliasPolicy } from "../config/aliases.js";
import type { ProvidersConfig } from "../config/schema.js";
import { activityOf } from "../upstream/activity.js";
import type { StatusSnapshot } from "./snapshot.js";

/** The catalog's reasons a host is down (`loading` is a status of its own, shown as such). */
export type PublicReason = Exclude<HostProblem, "loading">;
const REASONS: readonly string[] = HOST_PROBLEMS.filter((reason): reason is PublicReason => reason !== "loading");
const STATUSES: readonly string[] = HOST_STATUSES;

export interface PublicProvider {
  id: string;
  label: string;
  status: string;
  reason: PublicReason | null;
  latencyMs: number | null;
  inFlight: number;
  tokensPerSecond: number | null;
  recentAnswers: number;
  /** Slots busy over every model the host has loaded; null when not online or not reported. */
  slots: { busy: number; total: number } | null;
  /** The models the host has loaded now (composite ids); null when not online. */
  loadedModels: string[] | null;
}

export interface PublicModel {
  id: string;
  provider: string;
  status: string;
  /** Router-mode hosts: false when the model is not loaded now. */
  loaded: boolean | null;
  contextLength: number | null;
  contextTrain: number | null;
  slots: { busy: number; total: number } | null;
  source: string;
}

export interface PublicAlias {
  name: string;
  /** `replicas`: members are interchangeable hosts of one model; `ordered`: a fallback chain. */
  policy: AliasPolicy;
  members: { id: string; status: string }[];
}

export interface PublicStatus {
  /** When the hosts were last asked (the snapshot's time); null when this isolate has not asked yet. */
  checkedAt: string | null;
  providers: PublicProvider[];
  models: PublicModel[];
  aliases: PublicAlias[];
}

/** Status words are read defensively: anything the page does not know is shown as `unknown`. */
const statusWord = (value: unknown) => (typeof value === "string" && STATUSES.includes(value) ? value : "unknown");
const reasonWord = (value: unknown) => (typeof value === "string" && REASONS.includes(value) ? (value as PublicReason) : null);
const count = (value: unknown) => (typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : null);
const slotsWord = (value: unknown) => {
  const use = value as { busy?: unknown; total?: unknown } | null | undefined;
  const busy = count(use?.busy);
  const total = count(use?.total);
  return busy === null || total === null ? null : { busy, total };
};

/** `snapshot` undefined: the providers from the config with live activity, health unknown, no models. */
export function publicStatus(config: ProvidersConfig, snapshot: StatusSnapshot | undefined, now = Date.now()): PublicStatus {
  const catalog = snapshot?.catalog;
  const probed = new Map(catalog?.providers.map((p) => [p.id, p]));
  const providers = config.providers.map((p): PublicProvider => {
    const entry = probed.get(p.id) as (Record<string, unknown> & { status?: unknown }) | undefined;
    const status = statusWord(entry?.status);
    const activity = activityOf(p, now);
    return {
      id: p.id,
      label: p.label ?? p.id,
      status,
      reason: status === "online" || status === "loading" ? null : reasonWord(entry?.reason),
      latencyMs: count(entry?.latencyMs),
      inFlight: activity.inFlight,
      tokensPerSecond: activity.tokensPerSecond,
      recentAnswers: activity.recentAnswers,
      slots: slotsWord(entry?.slots),
      loadedModels: Array.isArray(entry?.loadedModels) ? entry.loadedModels.filter((id): id is string => typeof id === "string") : null,
    };
  });
  const models = (catalog?.models ?? []).map((m, i): PublicModel => {
    const use = snapshot?.slots[i];
    return {
      id: m.id,
      provider: m.provider,
      status: statusWord(m.status),
      loaded: typeof m.loaded === "boolean" ? m.loaded : null,
      contextLength: count(m.contextLength),
      contextTrain: count(m.contextTrain),
      slots: slotsWord(use),
      source: m.source,
    };
  });
  const modelStatus = new Map(models.map((m) => [m.id, m.status]));
  const aliases = Object.entries(config.aliases).map(([name, to]): PublicAlias => {
    const { members, policy } = aliasMembers(to);
    // A member the catalog does not list (its host never answered, or a typo in the config) is `unknown`.
    return { name, policy, members: members.map((id) => ({ id, status: modelStatus.get(id) ?? "unknown" })) };
  });
  return { checkedAt: catalog?.generatedAt ?? null, providers, models, aliases };
}
