/**
 * `POST /api/tokenize` `{ model, content }` -> `{ model, tokens, count }` and `POST /api/detokenize`
 * `{ model, tokens }` -> `{ model, content }`, by the model's own host (its tokenizer is the model's). Options the
 * host knows (`add_special`, `parse_special`, `with_pieces`) pass through.
 */
import * as z from "zod";
import type { Handler } from "../request-context.js";
import { badUpstream } from "../errors.js";
import { json, maxBodyBytes, readJsonBody } from "../http.js";
import { InferenceBodySchema } from "../inference/body.js";
import { withModelHost } from "../inference/model-host.js";

const TokenizeBodySchema = z.looseObject({ model: InferenceBodySchema.shape.model, content: z.string() });
const DetokenizeBodySchema = z.looseObject({ model: InferenceBodySchema.shape.model, tokens: z.array(z.number().int().nonnegative()) });

export const tokenizeHandler: Handler = async (request, env) => {
  const { raw, body } = await readJsonBody(request, TokenizeBodySchema, maxBodyBytes(env.ROUTER_MAX_BODY_BYTES));
  const { route, value: tokens } = await withModelHost(request, env, body.model, async (host) => {
    const { tokens } = await host.post("/tokenize", raw);
    if (!Array.isArray(tokens)) throw badUpstream(`provider "${host.route.provider.id}" answered /tokenize without tokens`);
    return tokens;
  });
  return json({ model: route.id, tokens, count: tokens.length });
};

export const detokenizeHandler: Handler = async (request, env) => {
  const { raw, body } = await readJsonBody(request, DetokenizeBodySchema, maxBodyBytes(env.ROUTER_MAX_BODY_BYTES));
  const { route, value: content } = await withModelHost(request, env, body.model, async (host) => {
    const { content } = await host.post("/detokenize", raw);
    if (typeof content !== "string") throw badUpstream(`provider "${host.route.provider.id}" answered /detokenize without content`);
    return content;
  });
  return json({ model: route.id, content });
};
