/**
 * Merging the router's agent settings into a user's existing config file, for `npm run agent-config`. Pure text in,
 * text out: the caller does the file I/O. Every merge keeps the user's other keys, refuses a file it cannot parse
 * (the caller then leaves it untouched), and is idempotent: merging the same settings twice gives the same bytes.
 * Runs in Node only (the Worker never imports it), hence a TOML library here and nowhere in the Worker.
 */
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";

export class MergeError extends Error {}

export interface MergeResult {
  text: string;
  /** What the user should know about the merge (keys replaced or removed, layout not kept). */
  notes: string[];
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Codex settings: scalar top-level keys plus `model_providers.<id>` tables. */
export interface CodexSettings {
  model_providers: Record<string, Table>;
  [key: string]: unknown;
}

/**
 * Sets the top-level keys and each `[model_providers.<id>]` table's keys, editing the text in place so the user's
 * comments and layout survive. The edit is then checked against what a TOML parser says the merge must be; a file
 * whose shape the line edit does not cover (inline tables, dotted keys) is rewritten from its parsed content instead.
 */
export function mergeCodexToml(existing: string | undefined, settings: CodexSettings): MergeResult {
  const { model_providers: providers, ...topLevel } = settings;
  const expected = parseTomlOrThrow(existing ?? "");
  Object.assign(expected, topLevel);
  if (expected.model_providers !== undefined && !isTable(expected.model_providers)) throw new MergeError("model_providers is not a table");
  const expectedProviders = (expected.model_providers ??= {}) as Table;
  for (const [id, table] of Object.entries(providers)) {
    const current = expectedProviders[id];
    if (current !== undefined && !isTable(current)) throw new MergeError(`model_providers.${id} is not a table`);
    expectedProviders[id] = { ...current, ...table };
  }

  const edited = editTomlLines(existing ?? "", topLevel, providers);
  let reparsed: Table | undefined;
  try {
    reparsed = parseToml(edited) as Table;
  } catch {
    reparsed = undefined;
  }
  if (reparsed && sameValue(reparsed, expected)) return { text: edited, notes: [] };
  return {
    text: stringifyToml(expected),
    notes: ["the file's layout could not be edited in place (an inline table or dotted keys?): it was rewritten from its parsed content, comments dropped"],
  };
}

function parseTomlOrThrow(text: string): Table {
  try {
    return parseToml(text) as Table;
  } catch (err) {
    throw new MergeError(`not valid TOML: ${(err as Error).message.replace(/^Invalid TOML document: /, "")}`);
  }
}

/** A table header line `[a.b]` or `[[a.b]]`; a nested array's element (`[1, 2],`) has a comma and does not match. */
const HEADER = /^\s*\[\[?\s*([A-Za-z0-9_\-."' ]+?)\s*\]\]?\s*(?:#.*)?$/;
const blankOrComment = (line: string) => /^\s*(?:#.*)?$/.test(line);
const headerPath = (line: string) => HEADER.exec(line)?.[1]?.split(".").map((part) => part.trim().replace(/^(["'])(.*)\1$/, "$2"));

function editTomlLines(text: string, topLevel: Table, providers: Record<string, Table>): string {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  const headerAt = (from: number) => {
    for (let i = from; i < lines.length; i++) if (HEADER.test(lines[i]!)) return i;
    return lines.length;
  };
  setKeys(lines, 0, headerAt(0), topLevel);
  for (const [id, table] of Object.entries(providers)) {
    const start = lines.findIndex((line) => {
      const path = headerPath(line);
      return !line.trim().startsWith("[[") && path?.length === 2 && path[0] === "model_providers" && path[1] === id;
    });
    if (start >= 0) {
      setKeys(lines, start + 1, headerAt(start + 1), table);
      continue;
    }
    while (lines.length > 0 && lines.at(-1)!.trim() === "") lines.pop();
    if (lines.length > 0) lines.push("");
    lines.push(...stringifyToml({ model_providers: { [id]: table } }).trim().split("\n"));
  }
  return lines.join(eol) + eol;
}

/** Replaces each key's line in lines[start, end) in place, or inserts it after the section's last key/value line. */
function setKeys(lines: string[], start: number, end: number, entries: Table): void {
  const missing: string[] = [];
  for (const [key, value] of Object.entries(entries)) {
    const pattern = new RegExp(`^\\s*(?:${escapeRegExp(key)}|"${escapeRegExp(key)}"|'${escapeRegExp(key)}')\\s*=`);
    const at = lines.slice(start, end).findIndex((line) => pattern.test(line));
    if (at >= 0) lines[start + at] = keyLine(key, value);
    else missing.push(keyLine(key, value));
  }
  if (missing.length === 0) return;
  // Before the comments and blank lines that lead into the next header: they belong to it.
  let at = end;
  while (at > start && blankOrComment(lines[at - 1]!)) at--;
  const gap = at < lines.length && lines[at]!.trim() !== "" ? [""] : [];
  lines.splice(at, 0, ...missing, ...gap);
}

const keyLine = (key: string, value: unknown) => stringifyToml({ [key]: value }).trim();
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Deep equality that ignores key order and prototypes (the TOML parser makes null-prototype objects). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.toISOString() === b.toISOString() && String(a) === String(b);
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  if (isTable(a) && isTable(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
  }
  return Object.is(a, b);
}

/** opencode.json: sets `provider.<id>` for each provider given, keeping the user's other providers and keys. */
export function mergeOpencodeJson(existing: string | undefined, config: { $schema?: string; provider: Record<string, Table> }): MergeResult {
  const root = parseJsonObject(existing);
  if (config.$schema !== undefined) root.$schema ??= config.$schema;
  if (root.provider !== undefined && !isTable(root.provider)) throw new MergeError('"provider" is not an object');
  const providers = (root.provider ??= {}) as Table;
  for (const [id, ours] of Object.entries(config.provider)) {
    const current = providers[id];
    if (current !== undefined && !isTable(current)) throw new MergeError(`"provider.${id}" is not an object`);
    if (current?.options !== undefined && !isTable(current.options)) throw new MergeError(`"provider.${id}.options" is not an object`);
    // The user's extra keys stay (headers, timeouts); `models` is the router's catalog, so it is replaced whole.
    providers[id] = { ...current, ...ours, options: { ...(current?.options as Table | undefined), ...(ours.options as Table | undefined) } };
  }
  return { text: JSON.stringify(root, null, 2) + "\n", notes: [] };
}

/** Keys of a Claude Code settings `env` block that would override the key the router's apiKeyHelper gives. */
const CLAUDE_KEY_OVERRIDES = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"];

/** ~/.claude/settings.json: merges `env`, sets `apiKeyHelper`, keeps every other setting. */
export function mergeClaudeSettings(existing: string | undefined, settings: { env: Record<string, string>; apiKeyHelper: string }): MergeResult {
  const root = parseJsonObject(existing);
  const notes: string[] = [];
  if (root.env !== undefined && !isTable(root.env)) throw new MergeError('"env" is not an object');
  const env = { ...(root.env as Table | undefined) };
  for (const name of CLAUDE_KEY_OVERRIDES) {
    if (name in env && !(name in settings.env)) {
      delete env[name];
      notes.push(`removed env.${name}: Claude Code would send it instead of the router key from apiKeyHelper`);
    }
  }
  if (typeof root.apiKeyHelper === "string" && root.apiKeyHelper !== settings.apiKeyHelper) notes.push("replaced the previous apiKeyHelper");
  root.env = { ...env, ...settings.env };
  root.apiKeyHelper = settings.apiKeyHelper;
  return { text: JSON.stringify(root, null, 2) + "\n", notes };
}

function parseJsonObject(text: string | undefined): Table {
  if (text === undefined || text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MergeError(`not valid JSON (comments are not supported here): ${(err as Error).message}`);
  }
  if (!isTable(value)) throw new MergeError("not a JSON object");
  return value;
}
