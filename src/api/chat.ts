/**
 * `POST /api/chat`: the app's chat, compaction, task-model and Arena calls. An OpenAI chat-completions body plus
 * `purpose`; it goes through `proxyInference`, the same resolver, host call and stream relay as
 * `/v1/chat/completions`, with `purpose` in the log line. Usage is always reported at the end: llama-server puts
 * `usage` in every non-streaming answer, and a stream is asked for its final usage chunk.
 */
import * as z from "zod";
import type { Handler } from "../context.js";
import { maxBodyBytes, readJsonBody } from "../http.js";
import { proxyInference } from "../v1/inference.js";
import { ChatBodySchema as ChatCompletionsBodySchema } from "../v1/request-schemas.js";

export const PURPOSES = ["chat", "compaction", "task", "arena"] as const;

const ChatBodySchema = ChatCompletionsBodySchema.extend({
  purpose: z.enum(PURPOSES).default("chat"),
  stream_options: z.looseObject({}).nullish(),
});

export const chatHandler: Handler = async (request, env) => {
  const { raw, body } = await readJsonBody(request, ChatBodySchema, maxBodyBytes(env.ROUTER_MAX_BODY_BYTES));
  const { purpose: _purpose, ...forward } = raw;
  if (body.stream) forward.stream_options = { ...body.stream_options, include_usage: true };
  return proxyInference(request, env, forward, body.model, { hostPath: "/v1/chat/completions", purpose: body.purpose });
};
