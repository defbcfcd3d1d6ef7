/**
 * The providers authority: one zod schema for `data/llama-providers.json`.
 * The field names are a contract shared with the app's Node server and BooCoder, so the object
 * schemas are strict: an unknown key is a typo that would otherwise be silently ignored.
 *
 * Plain TypeScript, no Workers API: exported to Node through `boocode-router/resolver`.
 */
import * as z from "zod";
import { ALIAS_POLICIES, aliasMembers, type AliasTarget } from "./aliases.js";
import { jsonErrorOffset, lineColumnAt } from "./json-offset.js";

/** Provider ids become the first segment of every composite id, so they must be URL- and log-safe. */
const SLUG = /^[a-z0-9][a-z0-9-]*$/;
/** Env var / Worker secret names. */
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Model ids may contain `/` and `:` (router-mode names such as `org/repo-GGUF:Q4_K_M`), never spaces or controls. */
const MODEL_ID = /^[A-Za-z0-9._:@+-][A-Za-z0-9._:@+/-]*$/;
/** The longest model id (configured, or reported by a host). */
const MODEL_ID_MAX = 200;
/** The longest `model` a request may name: a composite id is a slug, a `/` and a model id. */
export const MODEL_REF_MAX = 300;

export const CAPABILITIES = ["tools", "vision", "embeddings", "reasoning"] as const;

export const DEFAULT_TIMEOUTS = { connectMs: 5_000, firstByteMs: 300_000, idleMs: 120_000 } as const;

const slug = z.string().max(64).regex(SLUG, "must be a slug: lowercase letters, digits and '-', starting with a letter or digit");
const secretName = z.string().regex(SECRET_NAME, "must be the NAME of a Worker secret (letters, digits, '_'), never its value");
/**
 * The one rule for model names, wherever they come from: a configured id or upstream name, a name a host reports on
 * `/v1/models` (anything else is dropped), and the `model` of a request (a composite id, an alias or a bare name is
 * made of the same characters). So every name the router routes by or prints is plain ASCII without controls: safe
 * in a header (`x-boocode-route`), a log line and a generated shell or TOML config.
 */
export function modelNameSchema(max: number) {
  return z
    .string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") })
    .min(1, { error: "must not be empty", abort: true })
    .max(max, { error: `must be at most ${max} characters`, abort: true })
    .regex(MODEL_ID, "must be letters, digits and . _ : @ + - / (no spaces, control or non-ASCII characters)")
    .refine((s) => !s.split("/").some((part) => part === "" || part === "." || part === ".."), "must not contain empty, '.' or '..' path segments");
}

const modelId = modelNameSchema(MODEL_ID_MAX);

/** Whether a host-reported name may be used as a model id (see {@link modelNameSchema}). */
export function isModelId(name: unknown): name is string {
  return modelId.safeParse(name).success;
}

const baseUrl = z.string().superRefine((s, ctx) => {
  const problem = baseUrlProblem(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

function baseUrlProblem(s: string): string | undefined {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must use http or https";
  if (url.username || url.password) return "must not embed credentials: name a secret in auth instead";
  if (url.search || url.hash) return "must not have a query or fragment";
  return undefined;
}

const positiveMs = z.number().int().positive().max(3_600_000);

export const TimeoutsSchema = z.strictObject({
  connectMs: positiveMs
    .default(DEFAULT_TIMEOUTS.connectMs)
    .describe("Time for the host to show it is reachable: by its answer's headers or, asked once half of it has passed, by answering GET /health; else 504 connect_timeout and the next pool member."),
  firstByteMs: positiveMs.default(DEFAULT_TIMEOUTS.firstByteMs).describe("Time until the host answers with headers (prompt processing can be long)."),
  idleMs: positiveMs.default(DEFAULT_TIMEOUTS.idleMs).describe("Longest silence allowed between two chunks of a streamed answer."),
});

export const ProviderAuthSchema = z
  .strictObject({
    apiKeySecret: secretName.optional().describe("Secret holding llama-server's --api-key, sent as Authorization: Bearer."),
    accessClientIdSecret: secretName.optional().describe("Secret holding a Cloudflare Access service token id (CF-Access-Client-Id)."),
    accessClientSecretSecret: secretName.optional().describe("Secret holding the Access service token secret (CF-Access-Client-Secret)."),
  })
  .refine((a) => (a.accessClientIdSecret === undefined) === (a.accessClientSecretSecret === undefined), {
    message: "accessClientIdSecret and accessClientSecretSecret go together",
  });

export const ModelConfigSchema = z.strictObject({
  id: modelId.describe("The model part of the composite id provider/model."),
  upstream: modelId.optional().describe("The name the host knows the model by; defaults to id."),
  label: z.string().min(1).max(200).optional(),
  contextLength: z.number().int().positive().optional().describe("Context window when the host cannot be asked."),
  maxOutputTokens: z.number().int().positive().optional(),
  capabilities: z.array(z.enum(CAPABILITIES)).default([]),
});

export const ProviderSchema = z.strictObject({
  id: slug.describe("Unique provider id, the first segment of every composite id."),
  label: z.string().min(1).max(200).optional(),
  baseUrl: baseUrl.describe("llama-server origin: a tunnel hostname or a LAN/loopback host."),
  auth: ProviderAuthSchema.optional(),
  timeouts: TimeoutsSchema.default(DEFAULT_TIMEOUTS),
  discover: z.boolean().default(true).describe("Also list what the host reports on /v1/models."),
  models: z.array(ModelConfigSchema).default([]),
});

const aliasName = z.string().min(1).max(100).regex(/^[A-Za-z0-9._:@+-]+$/, "alias names have no '/' (that would read as provider/model)");
const compositeId = z.string().min(3).max(300);
const memberList = z.array(compositeId).min(1).max(16);
const aliasTarget = z.union([
  compositeId,
  memberList.describe("An ordered fallback chain: tried in this order."),
  z.strictObject({
    members: memberList,
    policy: z.enum(ALIAS_POLICIES, { error: 'must be "replicas" (the same model on several hosts, routed by load and cache) or "ordered" (a fallback chain, tried in order)' }),
    continuation: z
      .boolean()
      .optional()
      .describe("Default true: a chat stream that breaks mid-answer is continued on another replica, or on the same host if it answers again within seconds. false: it ends with an error event."),
  }),
]);

export const ProvidersConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.number().int().nonnegative().describe("Revision of this file; bump it on every push so /health shows which one is live."),
    providers: z.array(ProviderSchema).min(1),
    aliases: z.record(aliasName, aliasTarget).default({}),
  })
  .superRefine((config, ctx) => {
    const byId = new Map<string, (typeof config.providers)[number]>();
    config.providers.forEach((p, i) => {
      if (byId.has(p.id)) ctx.addIssue({ code: "custom", path: ["providers", i, "id"], message: `duplicate provider id "${p.id}"` });
      byId.set(p.id, p);
      const seen = new Set<string>();
      p.models.forEach((m, j) => {
        if (seen.has(m.id)) ctx.addIssue({ code: "custom", path: ["providers", i, "models", j, "id"], message: `duplicate model id "${m.id}" in provider "${p.id}"` });
        seen.add(m.id);
      });
    });
    for (const [name, target] of Object.entries(config.aliases)) {
      const { members } = aliasMembers(target);
      if (new Set(members).size !== members.length) ctx.addIssue({ code: "custom", path: ["aliases", name], message: `alias "${name}" lists a member twice` });
      members.forEach((member, k) => {
        const path = typeof target === "string" ? ["aliases", name] : Array.isArray(target) ? ["aliases", name, k] : ["aliases", name, "members", k];
        const slash = member.indexOf("/");
        const provider = slash > 0 ? byId.get(member.slice(0, slash)) : undefined;
        const model = member.slice(slash + 1);
        if (slash < 0 && member in config.aliases) {
          ctx.addIssue({ code: "custom", path, message: `alias "${name}" points to "${member}", which is an alias: aliases do not chain, so name a provider/model (e.g. one of ${describeAlias(config.aliases[member]!)})` });
        } else if (!provider) {
          ctx.addIssue({ code: "custom", path, message: `alias "${name}" points to "${member}", but no provider "${member.slice(0, Math.max(slash, 0)) || member}" exists (members are provider/model)` });
        } else if (!provider.models.some((m) => m.id === model) && !provider.discover) {
          ctx.addIssue({ code: "custom", path, message: `alias "${name}" points to "${member}", but provider "${provider.id}" has no model "${model}" and does not discover models` });
        }
      });
    }
  });

function describeAlias(target: AliasTarget): string {
  return aliasMembers(target).members.map((m) => `"${m}"`).join(", ");
}

/** The parsed, defaults-applied config. */
export type ProvidersConfig = z.infer<typeof ProvidersConfigSchema>;
/** What a person writes (defaults optional). */
export type ProvidersConfigInput = z.input<typeof ProvidersConfigSchema>;
export type Provider = ProvidersConfig["providers"][number];
export type ModelConfig = Provider["models"][number];
export type Capability = (typeof CAPABILITIES)[number];

/** Thrown by {@link parseProvidersConfig}; `issues` keep zod's paths for tooling, `message` names them for people. */
export class ProvidersConfigError extends Error {
  override name = "ProvidersConfigError";
  constructor(readonly issues: z.core.$ZodIssue[]) {
    super(`invalid providers config:\n${issues.map(formatIssue).join("\n")}`);
  }
}

function formatIssue(issue: z.core.$ZodIssue): string {
  // A union (an alias's three forms) whose input had the shape of one option: report that option's problems at
  // their own paths (`$.aliases.coder.policy`), not "Invalid input" plus every option's type mismatch.
  if (issue.code === "invalid_union") {
    const near = issue.errors.filter((branch) => !branch.every((e) => e.code === "invalid_type" && e.path.length === 0));
    if (near.length === 1) return near[0]!.map((e) => formatIssue({ ...e, path: [...issue.path, ...e.path] })).join("\n");
  }
  const path = issue.path.reduce<string>(
    (acc, seg) => (typeof seg === "number" ? `${acc}[${seg}]` : /^[A-Za-z_$][\w$]*$/.test(String(seg)) ? `${acc}.${String(seg)}` : `${acc}[${JSON.stringify(String(seg))}]`),
    "$",
  );
  // Record keys and unions keep the useful message one level down.
  const nested = "issues" in issue && Array.isArray(issue.issues) ? (issue.issues as unknown[]).flat() as z.core.$ZodIssue[] : [];
  const detail = nested.length ? `${issue.message}: ${nested.map((n) => n.message).join("; ")}` : issue.message;
  return `  ${path}: ${detail}`;
}

/**
 * Validates a providers config (already parsed JSON, or JSON text) and applies defaults.
 * @throws ProvidersConfigError naming each offending JSON path (`$.providers[1].baseUrl: ...`).
 */
export function parseProvidersConfig(json: unknown): ProvidersConfig {
  let value = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch (err) {
      throw new ProvidersConfigError([{ code: "custom", path: [], message: jsonSyntaxMessage(json, err as Error), input: json }]);
    }
  }
  const result = ProvidersConfigSchema.safeParse(value);
  if (!result.success) throw new ProvidersConfigError(result.error.issues);
  return result.data;
}

/** `not valid JSON at line L, column C: ...`: people editing a file need the line and column, not an offset. */
function jsonSyntaxMessage(text: string, err: Error): string {
  const scanned = jsonErrorOffset(text);
  const reported = /at position (\d+)/.exec(err.message);
  const offset = scanned >= 0 ? scanned : reported ? Number(reported[1]) : text.length;
  const { line, column } = lineColumnAt(text, offset);
  const detail = err.message.replace(/\s*\(line \d+ column \d+\)/, "").replace(/\s*at position \d+/, "");
  return `not valid JSON at line ${line}, column ${column}: ${detail}`;
}

/** JSON Schema for editors, generated from the zod schema (the input side: defaults are optional). */
export function providersJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ProvidersConfigSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
