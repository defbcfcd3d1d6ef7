#!/usr/bin/env node
/**
 * Extracts the response schemas the router's /v1 answers must conform to from OpenAI's published OpenAPI document
 * (github.com/openai/openai-openapi, openapi.json, ~3.4 MB) into test/fixtures/openai-openapi/schemas.json (~250 kB),
 * with every schema they reference, so the integration tier can validate against the real document without
 * carrying all of it.
 *
 *   node scripts/extract-openai-schemas.mjs <path to openapi.json> <commit of openai/openai-openapi it came from>
 *
 * The document is OpenAPI 3.1 (JSON Schema 2020-12) with a few OpenAPI 3.0 leftovers that a JSON Schema validator
 * does not understand. They are rewritten so the schema means what the document's authors meant, and no looser:
 * - `nullable: true` (3.0 only; a 2020-12 validator ignores it and would reject null): `type: T` becomes
 *   `type: [T, "null"]` (and `null` joins an `enum`); beside a `$ref` it becomes `anyOf: [{$ref}, {type: "null"}]`.
 * - `$recursiveRef: "#"` (2019-09; meant as "this schema" in CompoundFilter) becomes a `$ref` to the schema it is in.
 * - `discriminator` is an annotation in 3.1 and is left as it is: the `oneOf` beside it is validated as a plain
 *   oneOf (exactly one branch matches). The checked answers never reach a oneOf whose branches overlap; if one did,
 *   the test would fail loudly rather than pass, and the fix would belong here, said in this comment.
 * - Every `$ref` to `#/components/schemas/X` points at `#/$defs/X`, where the extract keeps them.
 * - `format` values such as `unixtime` are not JSON Schema formats; the validator ignores unknown formats.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** What the router answers on /v1 with an OpenAI shape (chat, completions, embeddings, models, Responses, errors). */
export const ROOTS = [
  "ListModelsResponse",
  "Model",
  "CreateChatCompletionResponse",
  "CreateChatCompletionStreamResponse",
  "CreateCompletionResponse",
  "CreateEmbeddingResponse",
  "ErrorResponse",
  "Response",
  "ResponseStreamEvent",
];

const PREFIX = "#/components/schemas/";
/** Where the schemas live in the extract: `$defs`, which every JSON Schema validator resolves `$ref`s into. */
const DEFS = "#/$defs/";

function refsIn(schema, out = new Set()) {
  if (Array.isArray(schema)) schema.forEach((s) => refsIn(s, out));
  else if (schema && typeof schema === "object") {
    if (typeof schema.$ref === "string") {
      if (!schema.$ref.startsWith(PREFIX)) throw new Error(`unexpected $ref ${schema.$ref}`);
      out.add(schema.$ref.slice(PREFIX.length));
    }
    Object.values(schema).forEach((s) => refsIn(s, out));
  }
  return out;
}

/** Rewrites the OpenAPI 3.0 leftovers (see the header) in place; returns what it changed, by kind. */
function rewrite(schema, ownName, counts) {
  if (Array.isArray(schema)) return schema.forEach((s) => rewrite(s, ownName, counts));
  if (!schema || typeof schema !== "object") return;
  for (const value of Object.values(schema)) rewrite(value, ownName, counts);
  if (typeof schema.$ref === "string") schema.$ref = DEFS + schema.$ref.slice(PREFIX.length);
  if (schema.$recursiveRef === "#") {
    delete schema.$recursiveRef;
    schema.$ref = DEFS + ownName;
    counts.recursiveRef++;
  }
  if (schema.nullable === true) {
    delete schema.nullable;
    if (typeof schema.type === "string") {
      schema.type = [schema.type, "null"];
      if (Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum.push(null);
      counts.nullableType++;
    } else if (typeof schema.$ref === "string") {
      schema.anyOf = [{ $ref: schema.$ref }, { type: "null" }];
      delete schema.$ref;
      counts.nullableRef++;
    } else {
      throw new Error(`nullable without type or $ref in ${ownName}: ${JSON.stringify(schema).slice(0, 200)}`);
    }
  } else if (schema.nullable === false) delete schema.nullable;
}

function main() {
  const [specPath, commit] = process.argv.slice(2);
  if (!specPath || !/^[0-9a-f]{40}$/.test(commit ?? "")) {
    console.error("usage: node scripts/extract-openai-schemas.mjs <openapi.json> <40-hex commit of openai/openai-openapi>");
    process.exit(2);
  }
  const text = readFileSync(specPath, "utf8");
  const spec = JSON.parse(text);
  const all = spec.components.schemas;
  const picked = {};
  const queue = [...ROOTS];
  while (queue.length) {
    const name = queue.shift();
    if (name in picked) continue;
    if (!(name in all)) throw new Error(`schema ${name} is not in the document`);
    picked[name] = structuredClone(all[name]);
    queue.push(...refsIn(all[name]));
  }
  const counts = { nullableType: 0, nullableRef: 0, recursiveRef: 0 };
  for (const [name, schema] of Object.entries(picked)) rewrite(schema, name, counts);
  const sorted = Object.fromEntries(Object.keys(picked).sort().map((name) => [name, picked[name]]));
  const out = {
    source: {
      repository: "openai/openai-openapi",
      commit,
      file: "openapi.json",
      sha256: createHash("sha256").update(text).digest("hex"),
      openapi: spec.openapi,
      version: spec.info?.version,
    },
    extractedBy: "scripts/extract-openai-schemas.mjs",
    roots: ROOTS,
    rewritten: counts,
    $defs: sorted,
  };
  const target = resolve(dirname(fileURLToPath(import.meta.url)), "../test/fixtures/openai-openapi/schemas.json");
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, JSON.stringify(out, null, 1) + "\n");
  console.log(`${Object.keys(sorted).length} schemas -> ${target} (${JSON.stringify(counts)})`);
}

main();
