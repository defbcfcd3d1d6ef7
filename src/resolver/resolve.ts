/**
 * The one resolver: every path that sends a request to a host (chat, completions, context counting, Arena, the app's
 * Node server, BooCoder) turns a client's model string into a host through this file. It looks names up in the one
 * list of what is served (served.ts), the same list the catalog shows.
 *
 * Pure: what the hosts reported on `/v1/models` is passed in (`discovered`), so the same code runs in the Worker
 * (which probes, caches and remembers each host's last good list) and in Node (which may pass nothing and rely on
 * config alone).
 */
import { aliasMembers, type AliasPolicy } from "../config/aliases.js";
import type { ModelConfig, Provider, ProvidersConfig } from "../config/schema.js";
import { compositeId, splitModelId } from "./ids.js";
import { findServed, hostReport, providerModels, type DiscoveredModels, type ListedModel } from "./served.js";

export { listModels } from "./served.js";
export type { DiscoveredModel, DiscoveredModels, HostReport, ListedModel } from "./served.js";

export interface ModelRoute {
  /** The composite id clients see in every response: the listed id, whichever of its names was asked for. */
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
  | {
      ok: true;
      via: "id" | "alias" | "bare";
      requested: string;
      /** Preferred first; an alias pool lists its members in config order. */
      candidates: ModelRoute[];
      /** `replicas`: the caller may reorder the candidates by load and cache; `ordered`: keep this order. */
      policy: AliasPolicy;
    }
  | { ok: false; error: "not_found" | "ambiguous"; requested: string; message: string; /** Composite ids that could have been meant. */ candidates: string[]; /** Set when the id named a configured provider that lacks the model. */ provider?: string };

/** How many of a provider's models a "has no model" message names before it points at the full list. */
const NAMED_IN_MESSAGE = 12;

/**
 * Resolution order: a composite id whose first segment is a configured provider is that provider's model or not
 * found (never a bare-name search); then an alias; then a bare model name only if exactly one provider has it.
 * Ambiguity is decided from the configured and the last-known discovered models, so a bare name means the same
 * thing whether a host is up or down.
 */
export function resolveModel(config: ProvidersConfig, requested: string, discovered: DiscoveredModels = new Map()): Resolution {
  const parts = splitModelId(requested);
  const provider = parts && config.providers.find((p) => p.id === parts.provider);
  if (parts && provider) {
    const route = resolveOn(provider, parts.model, discovered);
    if (route) return { ok: true, via: "id", requested, candidates: [route], policy: "ordered" };
    return { ok: false, error: "not_found", requested, message: noSuchModel(provider, discovered), provider: provider.id, candidates: [] };
  }

  const alias = config.aliases[requested];
  if (alias !== undefined) {
    const { members, policy } = aliasMembers(alias);
    const candidates = members.map((m) => resolveMember(config, m, discovered)).filter((r): r is ModelRoute => r !== undefined);
    if (candidates.length > 0) return { ok: true, via: "alias", requested, candidates, policy };
    return { ok: false, error: "not_found", requested, message: `alias "${requested}" has no available member (${members.join(", ")})`, candidates: members };
  }

  const matches = config.providers.flatMap((p) => {
    const served = findServed(providerModels(p, discovered), requested);
    return served ? [routeTo(served)] : [];
  });
  if (matches.length === 1) return { ok: true, via: "bare", requested, candidates: matches, policy: "ordered" };
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
    return provider.discover && !provider.models.some((m) => m.id === parts.model || m.upstream === parts.model) ? [provider] : [];
  };
  const direct = splitModelId(requested);
  if (direct && config.providers.some((p) => p.id === direct.provider)) return needs(requested);
  const alias = config.aliases[requested];
  if (alias !== undefined) return [...new Set(aliasMembers(alias).members.flatMap(needs))];
  return config.providers.filter((p) => p.discover);
}

function resolveMember(config: ProvidersConfig, id: string, discovered: DiscoveredModels): ModelRoute | undefined {
  const parts = splitModelId(id);
  const provider = parts && config.providers.find((p) => p.id === parts.provider);
  return parts && provider ? resolveOn(provider, parts.model, discovered) : undefined;
}

/**
 * `model` on `provider`: a served entry by any of its names; else, when the provider discovers and its list is not
 * known right now (never reached, or not answering: its last list may be out of date), an unverified route that
 * lets the host decide.
 */
function resolveOn(provider: Provider, model: string, discovered: DiscoveredModels): ModelRoute | undefined {
  const served = findServed(providerModels(provider, discovered), model);
  if (served) return routeTo(served);
  const report = hostReport(discovered, provider.id);
  if (!provider.discover || (report && !report.stale)) return undefined;
  return { id: compositeId(provider.id, model), provider, model, upstream: model, source: "unverified" };
}

function routeTo(m: ListedModel): ModelRoute {
  return { id: m.id, provider: m.provider, model: m.model, upstream: m.upstream, config: m.config, source: m.source };
}

/** `provider "gpu" has no such model; its models: a, b`, so the client sees what it could have meant. */
function noSuchModel(provider: Provider, discovered: DiscoveredModels): string {
  const ids = providerModels(provider, discovered).map((m) => m.id);
  const listed = ids.length === 0 ? "it lists no models" : `its models: ${ids.slice(0, NAMED_IN_MESSAGE).join(", ")}${ids.length > NAMED_IN_MESSAGE ? `, and ${ids.length - NAMED_IN_MESSAGE} more` : ""}`;
  // The client's model text is not quoted: a guessed secret sent as `model` must not come back (redacted or not).
  return `provider "${provider.id}" has no such model; ${listed}`;
}
