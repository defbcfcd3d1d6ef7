/**
 * `POST /api/context` `{ model, messages }` -> `{ model, promptTokens, contextLength, remaining }`: the exact prompt
 * size for the context meter and compaction decisions, counted by the serving host itself: its `/apply-template`
 * (the model's chat template, with whatever else of the chat body shapes the prompt: tools, template kwargs), then
 * its `/tokenize` with `add_special` (the BOS a chat request gets; without it the count is one short). Checked in
 * the e2e tier against the host's own `usage.prompt_tokens` for the same messages.
 */
import * as z from "zod";
import { catalogFor } from "../catalog/catalog.js";
import { liveConfig } from "../config/load.js";
import type { Handler } from "../request-context.js";
import { badUpstream } from "../errors.js";
import { json, maxBodyBytes, readJsonBody } from "../http.js";
import { InferenceBodySchema } from "../inference/body.js";
import { withModelHost } from "../inference/model-host.js";

const ContextBodySchema = z.looseObject({
  model: InferenceBodySchema.shape.model,
  messages: z.array(z.looseObject({ role: z.string() })).min(1, "messages must not be empty"),
});

export const contextHandler: Handler = async (request, env) => {
  const { raw, body } = await readJsonBody(request, ContextBodySchema, maxBodyBytes(env.ROUTER_MAX_BODY_BYTES));
  const { route, value: promptTokens } = await withModelHost(request, env, body.model, async (host) => {
    const { prompt } = await host.post("/apply-template", raw);
    if (typeof prompt !== "string") throw badUpstream(`provider "${host.route.provider.id}" answered /apply-template without a prompt`);
    const { tokens } = await host.post("/tokenize", { content: prompt, add_special: true });
    if (!Array.isArray(tokens)) throw badUpstream(`provider "${host.route.provider.id}" answered /tokenize without tokens`);
    return tokens.length;
  });
  const catalog = await catalogFor((await liveConfig(env)).config, env, [route.provider.id]);
  const contextLength = catalog.models.find((m) => m.id === route.id)?.contextLength ?? route.config?.contextLength ?? null;
  // Negative when the prompt no longer fits: by how much it is over.
  const remaining = contextLength === null ? null : contextLength - promptTokens;
  return json({ model: route.id, promptTokens, contextLength, remaining });
};
