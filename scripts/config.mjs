#!/usr/bin/env node
// `npm run config -- check | push [--local | --remote] | schema`
// Reads $LLAMA_PROVIDERS_PATH (default data/llama-providers.json). Validation is the Worker's own zod schema,
// imported from the compiled package (npm install builds it), so the CLI and the router can never disagree.
// `check` also refuses secrets too short for the router to redact: the client and admin keys and the secrets the
// config names, as far as their values are on this machine (.dev.vars, else .env; deployed secrets are not readable).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { readSecrets } from "./start.mjs";
import { shortSecrets, upstreamSecretNames } from "./startup-checks.mjs";

const SCHEMA_PATH = "data/llama-providers.schema.json";
const KV_BINDING = "LLAMA_PROVIDERS";
const KV_KEY = "llama-providers.json";

if (!existsSync("dist/resolver/index.js")) spawnSync("npm", ["run", "-s", "build:resolver"], { stdio: "inherit" });
const { aliasMembers, parseProvidersConfig, providersJsonSchema } = await import(resolve("dist/resolver/index.js"));

const [command, ...args] = process.argv.slice(2);
// `--env-file FILE` (repeatable): where the local secret values are, as for `npm start`; default .dev.vars, else .env.
const envFiles = [];
const rest = args.filter((arg, i) => {
  if (arg === "--env-file" || args[i - 1] === "--env-file") {
    if (arg !== "--env-file") envFiles.push(arg);
    return false;
  }
  return true;
});
const path = process.env.LLAMA_PROVIDERS_PATH || "data/llama-providers.json";

function check() {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    fail(`cannot read ${path}: ${err.message}`);
  }
  let config;
  try {
    config = parseProvidersConfig(text);
  } catch (err) {
    fail(`${path}: ${err.message}`);
  }
  const { secrets, files } = readSecrets(envFiles);
  const short = shortSecrets(secrets, upstreamSecretNames(text));
  if (short.length) fail(short.map((line) => `${files.join(", ")}: ${line}`).join("\n"));
  const models = config.providers.reduce((n, p) => n + p.models.length, 0);
  // Mid-stream continuation is on by default; name the aliases that switched it off, so a push shows what changes.
  const off = Object.entries(config.aliases).filter(([, target]) => !aliasMembers(target).continuation).map(([name]) => name);
  console.log(`${path}: valid, version ${config.version}, ${config.providers.length} provider(s) (${config.providers.map((p) => p.id).join(", ")}), ${models} configured model(s), ${Object.keys(config.aliases).length} alias(es)` +
    (off.length ? `; continuation off for: ${off.join(", ")}` : ""));
  return config;
}

function push() {
  const remote = rest.includes("--remote");
  const extra = rest.filter((a) => a !== "--remote" && a !== "--local");
  check();
  const args = ["kv", "key", "put", "--binding", KV_BINDING, KV_KEY, "--path", path, remote ? "--remote" : "--local", ...extra];
  const result = spawnSync(process.execPath, ["node_modules/wrangler/bin/wrangler.js", ...args], { stdio: "inherit" });
  if (result.status !== 0) fail(`wrangler kv key put failed (exit ${result.status})`);
  console.log(remote
    ? "pushed to the deployed KV namespace; edge locations may take up to 60 s to see it."
    : "pushed to the local KV state; a running `npm run dev` / `npm start` picks it up within 2 s, no restart needed.");
}

function schema() {
  writeFileSync(SCHEMA_PATH, JSON.stringify(providersJsonSchema(), null, 2) + "\n");
  console.log(`wrote ${SCHEMA_PATH}`);
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

switch (command) {
  case "check": check(); break;
  case "push": push(); break;
  case "schema": schema(); break;
  default: fail("usage: npm run config -- check [--env-file FILE] | push [--local | --remote] [--env-file FILE] [wrangler kv args] | schema");
}
