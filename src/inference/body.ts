/**
 * What the router checks in an inference body before it picks a host: only the fields it reads or must keep sane,
 * plus, per endpoint, the fields the host cannot do without (so a body without them is the router's 400
 * `invalid_body` naming the field, not the host's own error). Every object is loose: the original JSON is forwarded
 * with only `model` changed, so parameters the router does not know still pass.
 */
import * as z from "zod";
import { MODEL_REF_MAX, modelNameSchema } from "../config/schema.js";

/** Above this, a token limit is a mistake or an attack, not a request (no llama-server slot is this large). */
const MAX_TOKENS_CAP = 10_000_000;
const tokenLimit = z.union([z.literal(-1), z.number().int().min(1).max(MAX_TOKENS_CAP)]).nullable().optional();

/** zod's messages for a required field: "is required" when it is missing, else what it must be. */
const required = (what: string) => ({ error: (issue: { input?: unknown }) => (issue.input === undefined ? "is required" : `must be ${what}`) });

export const InferenceBodySchema = z.looseObject({
  /** A composite id, an alias or a bare name: all follow the one model-name rule. */
  model: modelNameSchema(MODEL_REF_MAX),
  stream: z.boolean().optional(),
  messages: z.array(z.unknown()).optional(),
  max_tokens: tokenLimit,
  max_completion_tokens: tokenLimit,
  max_output_tokens: tokenLimit,
});

const messages = z.array(z.unknown(), required("an array of messages")).min(1, "must not be empty");
const textOrList = (what: string) => z.union([z.string(), z.array(z.unknown())], required(what));

export const ChatBodySchema = InferenceBodySchema.extend({ messages });

/**
 * Per endpoint, from what llama-server refuses without: chat and Anthropic messages need `messages` (llama-server
 * defaults `max_tokens` for `/v1/messages`, so the router does not demand it either), completions `prompt`,
 * Responses `input`, embeddings `input` (or llama-server's `content`), rerank `query` and `documents` (or `texts`).
 */
const BODY_SCHEMAS: Record<string, z.ZodType<z.infer<typeof InferenceBodySchema>>> = {
  "/v1/chat/completions": ChatBodySchema,
  "/v1/completions": InferenceBodySchema.extend({ prompt: textOrList("a string or an array") }),
  "/v1/embeddings": InferenceBodySchema.extend({ input: textOrList("a string or an array").optional(), content: z.unknown().optional() }).superRefine((body, ctx) => {
    if (body.input === undefined && body.content === undefined) ctx.addIssue({ code: "custom", path: ["input"], message: "is required" });
  }),
  "/v1/rerank": InferenceBodySchema.extend({ query: z.string(required("a string")), documents: z.array(z.unknown()).min(1, "must not be empty").optional(), texts: z.array(z.unknown()).min(1, "must not be empty").optional() }).superRefine((body, ctx) => {
    if (body.documents === undefined && body.texts === undefined) ctx.addIssue({ code: "custom", path: ["documents"], message: "is required" });
  }),
  "/v1/messages": InferenceBodySchema.extend({ messages }),
  "/v1/messages/count_tokens": InferenceBodySchema.extend({ messages }),
  "/v1/responses": InferenceBodySchema.extend({ input: textOrList("a string or an array of input items") }),
};

export function bodySchemaFor(hostPath: string): z.ZodType<z.infer<typeof InferenceBodySchema>> {
  return BODY_SCHEMAS[hostPath] ?? InferenceBodySchema;
}
