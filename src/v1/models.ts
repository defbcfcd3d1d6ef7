/**
 * `GET /v1/models` and `GET /v1/models/{id}`: every model by composite id, configured and discovered, as OpenAI's
 * `ListModelsResponse` (`created` and `owned_by` always present) plus the window fields agents read
 * (`context_length` as in OpenRouter-style lists, `max_output_tokens`), from the same catalog as the app API. A model
 * whose host is down stays listed with `status: "offline"` (an extra member; OpenAI's schema allows them).
 */
import { buildCatalog, type CatalogModel } from "../catalog/catalog.js";
import { liveConfig } from "../config/load.js";
import type { Handler } from "../request-context.js";
import { decodeModelParam, lookUpModel } from "../catalog/lookup.js";
import { json } from "../http.js";

export const listModelsHandler: Handler = async (_request, env) => {
  const catalog = await buildCatalog((await liveConfig(env)).config, env);
  const created = Math.floor(Date.parse(catalog.generatedAt) / 1000);
  return json({ object: "list", data: catalog.models.map((m) => openAiModel(m, created)) });
};

export const getModelHandler: Handler = async (request, env) => {
  const id = decodeModelParam(request.params.id ?? "");
  const { entry, catalog } = await lookUpModel((await liveConfig(env)).config, env, id);
  return json(openAiModel(entry, Math.floor(Date.parse(catalog.generatedAt) / 1000)));
};

function openAiModel(m: CatalogModel, fallbackCreated: number) {
  return {
    id: m.id,
    object: "model" as const,
    created: m.created ?? fallbackCreated,
    owned_by: m.provider,
    name: m.label,
    context_length: m.contextLength,
    max_output_tokens: m.maxOutputTokens ?? null,
    capabilities: m.capabilities,
    source: m.source,
    status: m.status,
  };
}
