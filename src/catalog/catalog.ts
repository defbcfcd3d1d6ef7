/**
 * The catalog: every provider with its health and every model with its EFFECTIVE window, built from the config and
 * the hosts' own `/v1/models` answers (probed in parallel, cached a few seconds per isolate). One source for
 * `GET /v1/models`, `GET /api/opencode-config`, the agent configs and `GET /api/catalog`, so they never disagree;
 * its model list is the resolver's own (resolver/served.ts), so what inference accepts is what the catalog lists.
 */
import { fleet } from "../routing/index.js";
import { parseSlots, type SlotUse } from "../routing/host-reports.js";
import type { Capability, Provider, ProvidersConfig } from "../config/schema.js";
import type { Env } from "../env.js";
import { listModels } from "../resolver/resolve.js";
import { discover, probeModelInfo, type Discovery, type HostModel, type Probe } from "../upstream/discovery.js";

export const HOST_STATUSES = ["online", "loading", "offline", "unauthorized", "unknown"] as const;
export type HostStatus = (typeof HOST_STATUSES)[number];

/** Why a host is not online, for programs (`error` says it for people). */
export const HOST_PROBLEMS = ["unreachable", "timeout", "unauthorized", "loading", "error"] as const;
export type HostProblem = (typeof HOST_PROBLEMS)[number];

export interface CatalogProvider {
  id: string;
  label: string;
  status: HostStatus;
  latencyMs?: number;
  /** Set whenever `status` is neither `online` nor `unknown`. */
  reason?: HostProblem;
  error?: string;
  /** Online hosts: the models loaded there now (composite ids); a router-mode host loads the others on demand. */
  loadedModels?: string[];
  /**
   * Online hosts, when the caller asked for the hosts' load (`withHostLoad`): slots busy right now over every loaded
   * model (null when the host does not report slots, e.g. `--no-slots`).
   */
  slots?: SlotUse | null;
}

export interface CatalogModel {
  /** Composite id. */
  id: string;
  provider: string;
  model: string;
  /** The name the host knows it by. */
  upstream: string;
  label: string;
  source: "config" | "discovered";
  status: HostStatus;
  /** What one request can use: the host's per-slot window when reachable, else the configured value. */
  contextLength: number | null;
  contextTrain?: number;
  maxOutputTokens?: number;
  capabilities: Capability[];
  /** The host's `created` (unix seconds), when it reported one. */
  created?: number;
  /** Router-mode hosts only: whether the model is loaded now (an unloaded one loads on its first request). */
  loaded?: boolean;
}

export interface Catalog {
  providers: CatalogProvider[];
  models: CatalogModel[];
  aliases: ProvidersConfig["aliases"];
  generatedAt: string;
}

/**
 * `live: false` skips every probe (status `unknown`, configured windows only). A host that is down keeps its last
 * known models in the list (status `offline`, last known windows), exactly the names the resolver still counts.
 */
export async function buildCatalog(config: ProvidersConfig, env: Env, options: { live?: boolean } = {}): Promise<Catalog> {
  const live = options.live ?? true;
  const found: Discovery = live ? await discover(config.providers, env, { all: true }) : { probes: new Map(), names: new Map(), hostModels: new Map() };

  const providers = config.providers.map((p): CatalogProvider => {
    const probe = found.probes.get(p.id);
    const base = { id: p.id, label: p.label ?? p.id };
    if (!probe) return { ...base, status: "unknown" };
    if (probe.ok) return { ...base, status: "online", latencyMs: probe.latencyMs };
    const status = hostStatusOf(probe);
    return { ...base, status, latencyMs: probe.latencyMs, reason: problemOf(probe, status), error: probe.error };
  });
  const statusOf = new Map(providers.map((p) => [p.id, p.status]));

  const listed: (HostModel | undefined)[] = [];
  const models = listModels(config, found.names).map((m): CatalogModel => {
    const host: HostModel | undefined = m.hostName === undefined ? undefined : found.hostModels.get(m.provider.id)?.find((h) => h.name === m.hostName);
    listed.push(host);
    const providerStatus = statusOf.get(m.provider.id) ?? "unknown";
    return {
      id: m.id,
      provider: m.provider.id,
      model: m.model,
      upstream: m.upstream,
      label: m.config?.label ?? (m.provider.label ? `${m.model} on ${m.provider.label}` : m.id),
      source: m.source,
      status: providerStatus === "online" && host?.status === "loading" ? "loading" : providerStatus,
      contextLength: host?.contextLength ?? m.config?.contextLength ?? null,
      contextTrain: host?.contextTrain,
      maxOutputTokens: m.config?.maxOutputTokens,
      capabilities: m.config?.capabilities ?? [],
      created: host?.created,
      loaded: host?.status === undefined || providerStatus !== "online" ? undefined : host.status === "loaded",
    };
  });
  // What the host itself lists and has loaded (a single-model host: its model; router mode: status `loaded`). A
  // configured model the host does not list is not counted: a single-model llama-server answers with its own model.
  const loaded = (i: number) => {
    const m = listed[i];
    return m !== undefined && (m.status === undefined || m.status === "loaded");
  };
  if (live) await exactRouterModeWindows(config, env, models);
  for (const p of providers) if (p.status === "online") p.loadedModels = models.filter((m, i) => m.provider === p.id && loaded(i)).map((m) => m.id);
  return { providers, models, aliases: config.aliases, generatedAt: new Date().toISOString() };
}

function hostStatusOf(probe: Extract<Probe, { ok: false }>): HostStatus {
  if (probe.code === "upstream_unauthorized") return "unauthorized";
  if (probe.status === 503) return "loading";
  return "offline";
}

function problemOf(probe: Extract<Probe, { ok: false }>, status: HostStatus): HostProblem {
  if (status === "unauthorized" || status === "loading") return status;
  if (probe.code === "host_unreachable") return "unreachable";
  if (probe.code === "upstream_timeout" || probe.code === "connect_timeout") return "timeout";
  return "error";
}

/**
 * A router-mode host lists launch arguments, not windows; for a LOADED model its `/props` gives the per-slot `n_ctx`
 * exactly (one cached GET per loaded model, never loading one).
 */
async function exactRouterModeWindows(config: ProvidersConfig, env: Env, models: CatalogModel[]): Promise<void> {
  await Promise.all(
    models.map(async (m) => {
      const provider = m.loaded && m.status === "online" ? providerOf(config, m.provider) : undefined;
      if (!provider) return;
      const props = await probeModelInfo(provider, env, "/props", m.upstream);
      const window = props.ok ? windowFromProps(props.body) : undefined;
      if (window) m.contextLength = window;
    }),
  );
}

/** The catalog of some providers only: what a request about one model needs, without probing unrelated hosts. */
export function catalogFor(config: ProvidersConfig, env: Env, providerIds: readonly string[], options: { live?: boolean } = {}): Promise<Catalog> {
  const providers = config.providers.filter((p) => providerIds.includes(p.id));
  return buildCatalog({ ...config, providers, aliases: {} }, env, options);
}

export type { SlotUse } from "../routing/host-reports.js";

/**
 * How many of the model's slots exist and are working right now, from the host's `/slots` (cached at most
 * `maxAgeMs`). `null` when it cannot be known without side effects: host not online, router-mode model not loaded,
 * or the host runs with `--no-slots`.
 */
export async function slotUse(config: ProvidersConfig, env: Env, model: CatalogModel, maxAgeMs = 1_000): Promise<SlotUse | null> {
  const provider = model.status === "online" && model.loaded !== false ? providerOf(config, model.provider) : undefined;
  if (!provider) return null;
  const answer = await probeModelInfo(provider, env, "/slots", model.upstream, { maxAgeMs });
  // What the catalog and the status page read is also the fleet router's freshest picture of the host.
  if (answer.ok) fleet.recordSlots(provider, model.upstream, answer.body, answer.askedAt);
  return (answer.ok && parseSlots(answer.body)) || null;
}

/** Each model's slot use (same order as `catalog.models`), asked of the hosts in parallel; see {@link slotUse}. */
export function modelSlots(config: ProvidersConfig, env: Env, catalog: Catalog, maxAgeMs = 1_000): Promise<(SlotUse | null)[]> {
  return Promise.all(catalog.models.map((m) => slotUse(config, env, m, maxAgeMs)));
}

/**
 * Each online host's busy slots: its loaded models' slots summed (`slots[i]` belongs to `catalog.models[i]`). With
 * `loadedModels`, what a person looks at to see why a pool member was passed over.
 */
export function withHostLoad(catalog: Catalog, slots: readonly (SlotUse | null)[]): Catalog {
  const providers = catalog.providers.map((p): CatalogProvider => {
    if (!p.loadedModels) return p;
    const known = catalog.models.flatMap((m, i) => (p.loadedModels!.includes(m.id) && slots[i] ? [slots[i]!] : []));
    const sum = known.length ? known.reduce((total, use) => ({ total: total.total + use.total, busy: total.busy + use.busy }), { total: 0, busy: 0 }) : null;
    return { ...p, slots: sum };
  });
  return { ...catalog, providers };
}

/** llama-server's `/props`: `default_generation_settings.n_ctx` is the per-slot window. */
export function windowFromProps(body: unknown): number | undefined {
  const n = (body as { default_generation_settings?: { n_ctx?: unknown } })?.default_generation_settings?.n_ctx;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : undefined;
}

function providerOf(config: ProvidersConfig, id: string): Provider | undefined {
  return config.providers.find((p) => p.id === id);
}
