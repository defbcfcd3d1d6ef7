/**
 * The one resolver (DESIGN §4, C3/C5): every path that sends a request to a host (chat, completions, context
 * counting, Arena, the app's Node server, BooCoder) turns a client's model string into a host through this file.
 *
 * Pure: what the hosts reported on `/v1/models` is passed in (`discovered`), so the same code runs in the Worker
 * (which probes and caches) and in Node (which may pass nothing and rely on config alone).
 */
import type { ModelConfig, Provider, ProvidersConfig } from "../config/schema.js";
import { compositeId, splitModelId } from "./ids.js";

/**
 * Model names each host reported on `/v1/models`, by provider id. A provider missing from the map is "not known"
 * (not probed, or unreachable): a composite id on it is then routed optimistically and the host has the last word.
 */
export type DiscoveredModels = ReadonlyMap<string, readonly string[]>;

export interface ModelRoute {
  /** The composite id clients see in every response. */
  id: string;
  provider: Provider;
  /** The model part of the composite id. */
  model: string;
  /** The name sent to the host in the request body. */
  upstream: string;
  /** The configured entry, when there is one. */
  config?: ModelConfig;
  /** `unverified`: the provider discovers but its model list is not known right now. */
  source: "config" | "discovered" | "unverified";
}

export type Resolution =
  | { ok: true; via: "id" | "alias" | "bare"; requested: string; /** Preferred first; an alias pool lists its members in order. */ candidates: ModelRoute[] }
  | { ok: false; error: "not_found" | "ambiguous"; requested: string; message: string; /** Composite ids that could have been meant. */ candidates: string[] };

/** Resolution order: exact composite id, then alias, then a bare model name only if exactly one provider has it. */
export function resolveModel(config: ProvidersConfig, requested: string, discovered: DiscoveredModels = new Map()): Resolution {
  const direct = resolveComposite(config, requested, discovered);
  if (direct) return { ok: true, via: "id", requested, candidates: [direct] };

  const alias = config.aliases[requested];
  if (alias !== undefined) {
    const members = typeof alias === "string" ? [alias] : alias;
    const candidates = members.map((m) => resolveComposite(config, m, discovered)).filter((r): r is ModelRoute => r !== undefined);
    if (candidates.length > 0) return { ok: true, via: "alias", requested, candidates };
    return { ok: false, error: "not_found", requested, message: `alias "${requested}" has no available member (${members.join(", ")})`, candidates: members };
  }

  const matches = config.providers.flatMap((p) => {
    const route = routeOn(p, requested, discovered);
    return route ? [route] : [];
  });
  if (matches.length === 1) return { ok: true, via: "bare", requested, candidates: matches };
  if (matches.length > 1) {
    const ids = matches.map((m) => m.id);
    return { ok: false, error: "ambiguous", requested, message: `model "${requested}" exists on several providers; use one of: ${ids.join(", ")}`, candidates: ids };
  }
  return { ok: false, error: "not_found", requested, message: `model "${requested}" does not exist`, candidates: [] };
}

/**
 * The providers whose `/v1/models` answer could change how `requested` resolves. The Worker probes only these,
 * so a configured composite id costs no probe at all.
 */
export function providersToProbe(config: ProvidersConfig, requested: string): Provider[] {
  const needs = (id: string): Provider[] => {
    const parts = splitModelId(id);
    const provider = parts && config.providers.find((p) => p.id === parts.provider);
    if (!parts || !provider) return [];
    return provider.discover && !provider.models.some((m) => m.id === parts.model) ? [provider] : [];
  };
  const direct = splitModelId(requested);
  if (direct && config.providers.some((p) => p.id === direct.provider)) return needs(requested);
  const alias = config.aliases[requested];
  if (alias !== undefined) return [...new Set((typeof alias === "string" ? [alias] : alias).flatMap(needs))];
  return config.providers.filter((p) => p.discover);
}

function resolveComposite(config: ProvidersConfig, id: string, discovered: DiscoveredModels): ModelRoute | undefined {
  const parts = splitModelId(id);
  if (!parts) return undefined;
  const provider = config.providers.find((p) => p.id === parts.provider);
  if (!provider) return undefined;
  return routeOn(provider, parts.model, discovered) ?? unverifiedRoute(provider, parts.model, discovered);
}

/** A route to `model` on `provider` if the config or the host's own list has it. */
function routeOn(provider: Provider, model: string, discovered: DiscoveredModels): ModelRoute | undefined {
  const configured = provider.models.find((m) => m.id === model);
  if (configured) return { id: compositeId(provider.id, model), provider, model, upstream: configured.upstream ?? configured.id, config: configured, source: "config" };
  if (provider.discover && discovered.get(provider.id)?.includes(model)) {
    const config = provider.models.find((m) => (m.upstream ?? m.id) === model);
    return { id: compositeId(provider.id, model), provider, model, upstream: model, config, source: "discovered" };
  }
  return undefined;
}

function unverifiedRoute(provider: Provider, model: string, discovered: DiscoveredModels): ModelRoute | undefined {
  if (!provider.discover || discovered.has(provider.id)) return undefined;
  return { id: compositeId(provider.id, model), provider, model, upstream: model, source: "unverified" };
}

export interface ListedModel {
  id: string;
  provider: Provider;
  model: string;
  upstream: string;
  config?: ModelConfig;
  source: "config" | "discovered";
}

/**
 * Every model by composite id: configured ones first, in file order, then what each discovering host reported
 * that the config does not already name (by id or by upstream name).
 */
export function listModels(config: ProvidersConfig, discovered: DiscoveredModels = new Map()): ListedModel[] {
  return config.providers.flatMap((provider) => {
    const configured: ListedModel[] = provider.models.map((m) => ({
      id: compositeId(provider.id, m.id), provider, model: m.id, upstream: m.upstream ?? m.id, config: m, source: "config",
    }));
    if (!provider.discover) return configured;
    const known = new Set(provider.models.flatMap((m) => [m.id, m.upstream ?? m.id]));
    const found: ListedModel[] = [...new Set(discovered.get(provider.id) ?? [])]
      .filter((name) => !known.has(name))
      .map((name) => ({ id: compositeId(provider.id, name), provider, model: name, upstream: name, source: "discovered" }));
    return [...configured, ...found];
  });
}
