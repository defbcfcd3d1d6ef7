/**
 * `GET /v1/models` and `GET /v1/models/{id}`: every model by composite id, configured and discovered, as OpenAI's
 * `ListModelsResponse` (`created` and `owned_by` always present) plus the window fields agents read.
 */
import { liveConfig } from "../config/load.js";
import type { Handler } from "../context.js";
import { modelNotFound } from "../errors.js";
import { json } from "../http.js";
import { listModels, type ListedModel } from "../resolver/resolve.js";
import { discover, type HostModel, type Probe } from "../upstream/discovery.js";
import { resolveRequestModel } from "./resolve-request.js";

export const listModelsHandler: Handler = async (_request, env) => {
  const config = (await liveConfig(env)).config;
  const { probes } = await discover(config.providers, env);
  return json({ object: "list", data: modelEntries(listModels(config, primaryNames(probes)), probes) });
};

export const getModelHandler: Handler = async (request, env) => {
  const id = decodeModelParam(request.params.id ?? "");
  const config = (await liveConfig(env)).config;
  const [route] = await resolveRequestModel(config, id, env);
  const { probes } = await discover(config.providers, env);
  const entry = modelEntries(listModels(config, primaryNames(probes)), probes).find((m) => m.id === route?.id);
  if (!entry) throw modelNotFound(`model "${id}" does not exist`);
  return json(entry);
};

function decodeModelParam(param: string): string {
  try {
    return decodeURIComponent(param);
  } catch {
    throw modelNotFound("model id is not valid percent-encoding");
  }
}

/** Listing shows each host model once, under its primary name (aliases still resolve). */
function primaryNames(probes: Map<string, Probe>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [id, probe] of probes) if (probe.ok) out.set(id, probe.models.map((m) => m.name));
  return out;
}

function modelEntries(models: ListedModel[], probes: Map<string, Probe>) {
  const loadedAt = Math.floor(Date.now() / 1000);
  return models.map((m) => {
    const probe = probes.get(m.provider.id);
    const host: HostModel | undefined = probe?.ok ? probe.models.find((h) => h.name === m.upstream || h.aliases.includes(m.upstream)) : undefined;
    const contextLength = host?.contextLength ?? m.config?.contextLength ?? host?.contextTrain;
    return {
      id: m.id,
      object: "model" as const,
      created: host?.created ?? loadedAt,
      owned_by: m.provider.id,
      name: m.config?.label ?? m.model,
      context_length: contextLength ?? null,
      max_output_tokens: m.config?.maxOutputTokens ?? null,
      capabilities: m.config?.capabilities ?? [],
      source: m.source,
    };
  });
}
