/**
 * `POST /api/chat`: the app's chat, compaction, task-model and Arena calls. An OpenAI chat-completions body plus
 * `purpose`; it goes through `proxyInference`, the same resolver, host call and stream relay as
 * `/v1/chat/completions`, with `purpose` in the log line. Usage is always reported at the end: llama-server puts
 * `usage` in every non-streaming answer, and a stream is asked for its final usage chunk.
 */
import * as z from "zod";
import type { Handler, RouterRequest } from "../request-context.js";
import type { Env } from "../env.js";
import { maxBodyBytes, readJsonBody } from "../http.js";
import { ChatBodySchema as ChatCompletionsBodySchema } from "../inference/body.js";
import type { HostBody } from "../inference/host-body.js";
import { forHost, proxyInference } from "../inference/proxy.js";

export const PURPOSES = ["chat", "compaction", "task", "arena"] as const;

const ChatBodySchema = ChatCompletionsBodySchema.extend({
  purpose: z.enum(PURPOSES).default("chat"),
  stream_options: z.looseObject({}).nullish(),
});

const HOST_PATH = "/v1/chat/completions";

export const chatHandler: Handler = async (request, env) => {
  const { model, purpose, forward } = await readChat(request, env);
  return proxyInference(request, env, forward, model, { hostPath: HOST_PATH, purpose });
};

/** Reads and checks the body and serialises it for the host; the parsed object does not outlive this call. */
async function readChat(request: RouterRequest, env: Env): Promise<{ model: string; purpose: string; forward: HostBody }> {
  const { raw, body } = await readJsonBody(request, ChatBodySchema, maxBodyBytes(env.ROUTER_MAX_BODY_BYTES));
  const { purpose: _purpose, ...forward } = raw;
  if (body.stream) forward.stream_options = { ...body.stream_options, include_usage: true };
  return { model: body.model, purpose: body.purpose, forward: forHost(forward, HOST_PATH) };
}
