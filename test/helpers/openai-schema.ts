/**
 * Validates an answer against OpenAI's published OpenAPI schemas (test/fixtures/openai-openapi/schemas.json,
 * extracted by scripts/extract-openai-schemas.mjs, which says how OpenAPI's quirks were turned into JSON Schema).
 * @cfworker/json-schema interprets the schema instead of generating code, so it runs inside workerd, where
 * `new Function` is forbidden.
 */
import { Validator } from "@cfworker/json-schema";
import { expect } from "vitest";
import extract from "../fixtures/openai-openapi/schemas.json";

export type OpenAiSchemaName =
  | "ListModelsResponse"
  | "Model"
  | "CreateChatCompletionResponse"
  | "CreateChatCompletionStreamResponse"
  | "CreateCompletionResponse"
  | "CreateEmbeddingResponse"
  | "ErrorResponse"
  | "Response"
  | "ResponseStreamEvent"
  | typeof COMPLETION_CHUNK;

/**
 * The document declares no event-stream schema for `/completions`; it says a streamed chunk has the shape of
 * `CreateCompletionResponse`, but every chunk before the last has `finish_reason: null` (OpenAI's own stream does
 * too) where that schema wants a string. This derived schema is exactly that one with `finish_reason` nullable.
 */
const COMPLETION_CHUNK = "CreateCompletionResponse (stream chunk)";
const defs = (extract as { $defs: Record<string, any> }).$defs;
const completionChunk = structuredClone(defs.CreateCompletionResponse);
const finishReason = completionChunk.properties.choices.items.properties.finish_reason;
finishReason.type = [finishReason.type, "null"];
finishReason.enum = [...finishReason.enum, null];
const DEFS: Record<string, object> = { ...defs, [COMPLETION_CHUNK]: completionChunk };
export { COMPLETION_CHUNK };

const validators = new Map<OpenAiSchemaName, Validator>();

function validatorFor(name: OpenAiSchemaName): Validator {
  let validator = validators.get(name);
  if (!validator) {
    const root = { $ref: `#/$defs/${encodeURIComponent(name)}`, $defs: DEFS };
    validators.set(name, (validator = new Validator(root as never, "2020-12", false)));
  }
  return validator;
}

/** Where and why `value` breaks the schema, deepest first (empty when it conforms). */
export function openAiViolations(name: OpenAiSchemaName, value: unknown): string[] {
  const result = validatorFor(name).validate(value);
  if (result.valid) return [];
  return result.errors.map((e) => `${e.instanceLocation}: ${e.error} (${e.keywordLocation})`).reverse();
}

/** Fails the test with the schema's own words when `value` does not conform to OpenAI's `name`. */
export function expectOpenAiShape(name: OpenAiSchemaName, value: unknown): void {
  expect(openAiViolations(name, value), `${name}: ${JSON.stringify(value).slice(0, 400)}`).toEqual([]);
}
