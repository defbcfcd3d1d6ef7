#!/usr/bin/env node
// `npm run agent-config -- <opencode|claude-code|codex> [--router URL] [--key-env NAME] [--model ID] [--write [PATH]]`
// Asks a running router for the agent's settings (GET /api/agent-config?format=json, the Worker's own generator) and
// merges them into the agent's config file, keeping everything else the user had. Without --write it prints what it
// would write. With --write: atomic (temp file + rename), the previous file kept as PATH.bak, and a second run that
// changes nothing writes nothing. The key is never written: each agent reads it from the env var when it runs.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, mkdirSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MERGE_JS = join(ROOT, "dist/agents/merge.js");
const USAGE = "usage: npm run agent-config -- <opencode|claude-code|codex> [--router URL] [--key-env NAME] [--model ID] [--write [PATH]]";

const home = () => process.env.HOME || homedir();
const AGENTS = {
  opencode: {
    file: () => join(process.env.XDG_CONFIG_HOME || join(home(), ".config"), "opencode", "opencode.json"),
    merge: "mergeOpencodeJson",
    hasModel: (s) => Object.keys(Object.values(s.provider ?? {})[0]?.models ?? {}).length > 0,
  },
  "claude-code": {
    file: () => join(process.env.CLAUDE_CONFIG_DIR || join(home(), ".claude"), "settings.json"),
    merge: "mergeClaudeSettings",
    hasModel: (s) => typeof s.env?.ANTHROPIC_MODEL === "string",
  },
  codex: {
    file: () => join(process.env.CODEX_HOME || join(home(), ".codex"), "config.toml"),
    merge: "mergeCodexToml",
    hasModel: (s) => typeof s.model === "string",
  },
};

function fail(message) {
  console.error(`agent-config: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const [client, ...rest] = argv;
  if (!client || !(client in AGENTS)) fail(`${client ? `unknown agent "${client}"` : "which agent?"}\n${USAGE}`);
  const options = { client, router: process.env.BOOCODE_URL || "http://127.0.0.1:8787", keyEnv: "BOOCODE_API_KEY", model: undefined, write: false, path: undefined };
  for (let i = 0; i < rest.length; i++) {
    const [flag, inline] = rest[i].split(/=(.*)/s, 2);
    const value = () => inline ?? (rest[i + 1] !== undefined && !rest[i + 1].startsWith("--") ? rest[++i] : fail(`${flag} needs a value\n${USAGE}`));
    if (flag === "--router") options.router = value().replace(/\/+$/, "");
    else if (flag === "--key-env") options.keyEnv = value();
    else if (flag === "--model") options.model = value();
    else if (flag === "--write") {
      options.write = true;
      options.path = inline ?? (rest[i + 1] !== undefined && !rest[i + 1].startsWith("--") ? rest[++i] : undefined);
    } else fail(`unknown option ${rest[i]}\n${USAGE}`);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(options.keyEnv)) fail(`--key-env must be an environment variable name, not "${options.keyEnv}"`);
  return options;
}

async function fetchSettings({ client, router, keyEnv, model }) {
  const url = new URL(`${router}/api/agent-config`);
  url.search = new URLSearchParams({ client, format: "json", key_env: keyEnv, ...(model ? { model } : {}) }).toString();
  const key = process.env[keyEnv];
  let response;
  try {
    response = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {}, signal: AbortSignal.timeout(20_000) });
  } catch (err) {
    fail(`cannot reach the router at ${router} (${err.cause?.code ?? err.cause?.message ?? err.message}): start it (npm run dev) or pass --router URL`);
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text.slice(0, 300);
    try {
      message = JSON.parse(text).error.message;
    } catch {}
    const hint = response.status === 401 ? ` (export ${keyEnv}=<your router key>${key ? "; the one set was refused" : ""})` : "";
    fail(`the router at ${router} answered ${response.status}: ${message}${hint}`);
  }
  return JSON.parse(text);
}

function readExisting(path) {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if (err.code === "ENOENT") return undefined;
    fail(`cannot read ${path}: ${err.message}`);
  }
}

/** Temp file in the same folder, flushed, then renamed over: a reader sees the old file or the new one, never half. */
function writeAtomically(path, text, mode) {
  const temp = join(dirname(path), `.${path.split("/").pop()}.tmp-${process.pid}`);
  try {
    const fd = openSync(temp, "wx", mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    fail(`cannot write ${path}: ${err.message}`);
  }
}

async function loadMerge() {
  const source = join(ROOT, "src/agents/merge.ts");
  if (!existsSync(MERGE_JS) || statSync(MERGE_JS).mtimeMs < statSync(source).mtimeMs) {
    const built = spawnSync("npm", ["run", "-s", "build:resolver"], { cwd: ROOT, stdio: ["ignore", 2, 2] });
    if (built.status !== 0) fail("npm run build:resolver failed");
  }
  return import(MERGE_JS);
}

const options = parseArgs(process.argv.slice(2));
const agent = AGENTS[options.client];
const merges = await loadMerge();
const settings = await fetchSettings(options);
if (!agent.hasModel(settings)) fail(`the router's catalog has no model${options.model ? "" : " (no host reachable?); pass --model ID"}`);

const given = options.path && resolve(process.env.INIT_CWD || process.cwd(), options.path);
let path = given ?? agent.file();
// A symlinked config (a dotfiles repo) is written where it points, so the link survives.
if (existsSync(path)) path = realpathSync(path);
const existing = readExisting(path);
let result;
try {
  result = merges[agent.merge](existing, settings);
} catch (err) {
  if (!(err instanceof merges.MergeError)) throw err;
  fail(`${path}: ${err.message}\nNothing was written; fix the file or pass --write OTHER_PATH.`);
}
for (const note of result.notes) console.error(`agent-config: note: ${note}`);

if (!options.write) {
  process.stdout.write(result.text);
  console.error(`agent-config: not written${existing === undefined ? "" : " (this is the merge with the existing file)"}; add --write to write ${path}`);
} else if (existing === result.text) {
  console.error(`agent-config: ${path} is already up to date; nothing written`);
} else {
  mkdirSync(dirname(path), { recursive: true });
  const mode = existing === undefined ? 0o644 : statSync(path).mode & 0o777;
  if (existing !== undefined) writeAtomically(`${path}.bak`, existing, mode);
  writeAtomically(path, result.text, mode);
  console.error(`agent-config: wrote ${path}${existing === undefined ? "" : ` (previous file kept as ${path}.bak)`}`);
}
console.error(`agent-config: no key in the file: ${options.client} reads it from $${options.keyEnv} when it runs`);
