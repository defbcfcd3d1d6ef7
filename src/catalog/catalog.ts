/**
 * The catalog: every provider with its health and every model with its EFFECTIVE window, built from the config and
 * the hosts' own `/v1/models` answers (probed in parallel, cached a few seconds per isolate). One source for
 * `GET /v1/models`, `GET /api/opencode-config`, the agent configs and `GET /api/catalog`, so they never disagree.
 */
import type { Capability, ProvidersConfig } from "../config/schema.js";
import type { Env } from "../env.js";
import { listModels } from "../resolver/resolve.js";
import { discover, type HostModel, type Probe } from "../upstream/discovery.js";

export type HostStatus = "online" | "loading" | "offline" | "unauthorized" | "unknown";

export interface CatalogProvider {
  id: string;
  label: string;
  status: HostStatus;
  latencyMs?: number;
  error?: string;
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
}

export interface Catalog {
  providers: CatalogProvider[];
  models: CatalogModel[];
  aliases: ProvidersConfig["aliases"];
  generatedAt: string;
}

/** `live: false` skips every probe (status `unknown`, configured windows only). */
export async function buildCatalog(config: ProvidersConfig, env: Env, options: { live?: boolean } = {}): Promise<Catalog> {
  const live = options.live ?? true;
  const probes = live ? (await discover(config.providers, env, { all: true })).probes : new Map<string, Probe>();
  const primaryNames = new Map<string, string[]>();
  for (const [id, probe] of probes) if (probe.ok) primaryNames.set(id, probe.models.map((m) => m.name));

  const providers = config.providers.map((p): CatalogProvider => {
    const probe = probes.get(p.id);
    const base = { id: p.id, label: p.label ?? p.id };
    if (!probe) return { ...base, status: "unknown" };
    if (probe.ok) return { ...base, status: "online", latencyMs: probe.latencyMs };
    return { ...base, status: hostStatusOf(probe), latencyMs: probe.latencyMs, error: probe.error };
  });
  const statusOf = new Map(providers.map((p) => [p.id, p.status]));

  const models = listModels(config, primaryNames).map((m): CatalogModel => {
    const probe = probes.get(m.provider.id);
    const host: HostModel | undefined = probe?.ok ? probe.models.find((h) => h.name === m.upstream || h.aliases.includes(m.upstream)) : undefined;
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
    };
  });
  return { providers, models, aliases: config.aliases, generatedAt: new Date().toISOString() };
}

function hostStatusOf(probe: Extract<Probe, { ok: false }>): HostStatus {
  if (probe.code === "upstream_unauthorized") return "unauthorized";
  if (probe.status === 503) return "loading";
  return "offline";
}
