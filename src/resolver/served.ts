/**
 * The one list of what is served: every model by composite id, with every name its host accepts for it. The resolver
 * looks names up in it, and the catalog (`/v1/models`, `/v1/models/{id}`, `/api/models/{id}`, `/api/catalog`) lists
 * it, so an id that inference accepts is an id the catalog knows, and the other way round.
 *
 * Pure: what the hosts reported on `/v1/models` is passed in.
 */
import type { ModelConfig, Provider, ProvidersConfig } from "../config/schema.js";
import { compositeId } from "./ids.js";

/** One model a host reported: the name it lists it by and the other names it accepts (llama-server's `aliases`). */
export interface DiscoveredModel {
  name: string;
  aliases?: readonly string[];
}

/** A host's `/v1/models` answer. `stale`: the host did not answer just now, so this is its last good answer. */
export interface HostReport {
  models: readonly DiscoveredModel[];
  stale?: boolean;
}

/**
 * What the hosts reported, by provider id. A provider missing from the map is "not known" (never reached): a
 * composite id on it is then routed optimistically and the host has the last word. A plain list of names is read as
 * a fresh report with one model per name.
 */
export type DiscoveredModels = ReadonlyMap<string, HostReport | readonly string[]>;

export interface ListedModel {
  /** The composite id clients see in every response. */
  id: string;
  provider: Provider;
  /** The model part of the composite id. */
  model: string;
  /** The name sent to the host in the request body. */
  upstream: string;
  /** The configured entry, when there is one. */
  config?: ModelConfig;
  source: "config" | "discovered";
  /** The other names a request may use for it after `provider/`: its upstream name and the host's aliases. */
  names: string[];
  /** The name the host's list gives it, when the list has it. */
  hostName?: string;
}

export function hostReport(discovered: DiscoveredModels, providerId: string): HostReport | undefined {
  const report = discovered.get(providerId);
  if (report === undefined) return undefined;
  return isNameList(report) ? { models: report.map((name) => ({ name })) } : report;
}

function isNameList(report: HostReport | readonly string[]): report is readonly string[] {
  return Array.isArray(report);
}

/**
 * One provider's models: configured ones first, in file order, then what a discovering host reported that the config
 * does not already name (by id, upstream name or one of the host's aliases for it).
 */
export function providerModels(provider: Provider, discovered: DiscoveredModels): ListedModel[] {
  const hostModels = hostReport(discovered, provider.id)?.models ?? [];
  const answersTo = (h: DiscoveredModel, name: string) => h.name === name || (h.aliases ?? []).includes(name);
  const configuredIds = new Set(provider.models.map((m) => m.id));

  const configured = provider.models.map((m): ListedModel => {
    const upstream = m.upstream ?? m.id;
    const host = hostModels.find((h) => answersTo(h, upstream));
    // Only a discovering provider's host is asked what else it answers to.
    const hostNames = host && provider.discover ? [host.name, ...(host.aliases ?? [])] : [];
    return {
      id: compositeId(provider.id, m.id), provider, model: m.id, upstream, config: m, source: "config",
      names: unique([upstream, ...hostNames]).filter((n) => n !== m.id), hostName: host?.name,
    };
  });
  if (!provider.discover) return configured;

  const taken = new Set([...configuredIds, ...configured.flatMap((c) => c.names)]);
  const found: ListedModel[] = [];
  for (const h of hostModels) {
    if (taken.has(h.name) || configured.some((c) => c.hostName === h.name)) continue;
    const names = unique(h.aliases ?? []).filter((n) => n !== h.name && !taken.has(n));
    [h.name, ...names].forEach((n) => taken.add(n));
    found.push({ id: compositeId(provider.id, h.name), provider, model: h.name, upstream: h.name, source: "discovered", names, hostName: h.name });
  }
  return [...configured, ...found];
}

/** Every model of every provider, in config order. */
export function listModels(config: ProvidersConfig, discovered: DiscoveredModels = new Map()): ListedModel[] {
  return config.providers.flatMap((p) => providerModels(p, discovered));
}

/** The entry `name` means among one provider's models: its own id first, then any other name it answers to. */
export function findServed(models: readonly ListedModel[], name: string): ListedModel | undefined {
  return models.find((m) => m.model === name) ?? models.find((m) => m.names.includes(name));
}

function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}
