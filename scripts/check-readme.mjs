#!/usr/bin/env node
// `node scripts/check-readme.mjs [--readme FILE]`: runs the README's own shell commands, as written, in a throw-away
// copy of the repository, against a real llama-server serving a tiny model as `local/mymodel` on 127.0.0.1:8080
// (the bundled config's `local` provider) and the router `npm start` serves on 127.0.0.1:8787. The commands are read
// from the README text by section (scripts/readme-check/readme.mjs, which also lists what is skipped and why), so a
// README edit that breaks a command fails this check. CI runs it after the e2e tier.
//
// The copy (tracked files as they are in the working tree, the README under check, node_modules hard-linked) keeps the
// developer's own .dev.vars, dist/ and .wrangler/ untouched; HOME points into the copy's temp folder, so the agent
// configs `npm run agent-config -- ... --write` writes land there, never in the user's ~/.config, ~/.claude, ~/.codex.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { CHECKED_SECTIONS, PLACEHOLDERS, SKIPS, UNCHECKED_SECTIONS, commentOf, layoutProblems, readCommands, withoutComment } from "./readme-check/readme.mjs";
import { CURL_STATUS, MODEL_ID, StepFailure, checkCurl, curlAnswer, fail } from "./readme-check/answers.mjs";
import { assertPortFree, runBash, waitPortFree, startBackground, stopAll, tailOf, waitForHttp } from "./readme-check/processes.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUDGET_MS = 180_000; // the README steps; installing llama-server (done by CI's earlier phase) has its own bound
const LLAMA_PORT = 8080; // the bundled config's `local` provider
const ROUTER_PORT = 8787; // npm start's default
const MODEL_ALIAS = MODEL_ID.split("/")[1]; // the bundled config names the host `local`
// Runs the README's curl as written and appends the HTTP status, so the check sees it without changing the command.
const CURL_WRAPPER = `curl() { command curl -w '\\n${CURL_STATUS}%{http_code}\\n' "$@"; }`;
const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=/;
const KEY_HEADER = /\s+-H\s+(["'])authorization: Bearer \$KEY\1/i;

const started = Date.now();
let budgetStart = started; // reset once llama-server serves
const remaining = () => BUDGET_MS - (Date.now() - budgetStart);
let current; // the README command being checked, for every failure message
let tmp;
let checked = 0;
let derived = 0;
const skipped = [];

function parseArgs(argv) {
  if (argv.length === 0) return join(ROOT, "README.md");
  if (argv[0] === "--readme" && argv[1] && argv.length === 2) return resolve(argv[1]);
  console.error("usage: node scripts/check-readme.mjs [--readme FILE]");
  process.exit(2);
}

/** Tracked files as they are now (edits included), the README under check, node_modules hard-linked (or copied). */
function copyRepository(readmeText, dest) {
  const files = execFileSync("git", ["-C", ROOT, "ls-files", "-z"], { encoding: "utf8" }).split("\0").filter(Boolean);
  for (const file of files) {
    const from = join(ROOT, file);
    if (!existsSync(from) && !isSymlink(from)) continue; // deleted in the working tree
    mkdirSync(dirname(join(dest, file)), { recursive: true });
    cpSync(from, join(dest, file), { verbatimSymlinks: true });
  }
  writeFileSync(join(dest, "README.md"), readmeText);
  try {
    execFileSync("cp", ["-al", join(ROOT, "node_modules"), join(dest, "node_modules")], { stdio: "ignore" });
  } catch {
    execFileSync("cp", ["-a", join(ROOT, "node_modules"), join(dest, "node_modules")]);
  }
}

function isSymlink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

async function startLlamaServer(env) {
  const install = await runBash("bash scripts/install-llama-server.sh", { cwd: ROOT, env, timeoutMs: 600_000 });
  if (install.code !== 0) fail(`scripts/install-llama-server.sh failed (${install.code}):\n${tailOf(install.stderr)}`);
  const launcher = install.stdout.trim().split("\n").pop();
  const model = join(tmp, "mymodel.gguf");
  const made = await runBash(`node scripts/make-tiny-gguf.mjs '${model}'`, { cwd: ROOT, env, timeoutMs: 120_000 });
  if (made.code !== 0) fail(`scripts/make-tiny-gguf.mjs failed:\n${tailOf(made.stderr)}`);
  // -n: random weights never produce end-of-text, so the README's chat (no max_tokens) would run until the
  // context is full; a real model stops by itself. -c: a small context is all the README's requests need.
  const args = ["--host", "127.0.0.1", "--port", String(LLAMA_PORT), "-t", "1", "-n", "16", "-c", "4096", "-m", model, "--alias", MODEL_ALIAS];
  const server = startBackground(launcher, args, { cwd: tmp, env, logFile: join(tmp, "llama-server.log") });
  await waitForHttp(`http://127.0.0.1:${LLAMA_PORT}/health`, { exited: server.exited, timeoutMs: 60_000, what: "llama-server" })
    .catch((err) => fail(`${err.message}\n${server.log()}`));
  console.log(`check-readme: llama-server serves ${MODEL_ALIAS} on 127.0.0.1:${LLAMA_PORT} (${launcher})`);
}

/** The environment every README command gets: no settings of the user's that would change an answer, HOME in tmp. */
function commandEnv() {
  const env = { ...process.env, HOME: join(tmp, "home"), WRANGLER_SEND_METRICS: "false", npm_config_update_notifier: "false" };
  for (const name of ["ROUTER_API_KEYS", "ROUTER_AUTH", "BOOCODE_API_KEY", "BOOCODE_URL", "LLAMA_PROVIDERS_PATH", "XDG_CONFIG_HOME", "CLAUDE_CONFIG_DIR", "CODEX_HOME"]) {
    delete env[name];
  }
  mkdirSync(env.HOME, { recursive: true });
  return env;
}

/** One shell session over the whole README: variables a command sets carry into the later ones. */
class Session {
  constructor(repo, env) {
    Object.assign(this, { repo, env, assignments: [], server: undefined, secondKey: randomBytes(24).toString("hex") });
  }

  script(command) {
    return ["set -euo pipefail", CURL_WRAPPER, ...this.assignments, command].join("\n");
  }

  async run(command) {
    return runBash(this.script(command), { cwd: this.repo, env: this.env, timeoutMs: Math.max(1, Math.min(remaining(), 90_000)) })
      .catch((err) => fail(err.message));
  }

  async devVarsKey() {
    const vars = readFileSync(join(this.repo, ".dev.vars"), "utf8");
    return /^ROUTER_API_KEYS=(.*)$/m.exec(vars)?.[1] ?? fail(".dev.vars has no ROUTER_API_KEYS line");
  }

  /** A long-running `npm start ...`: replaces the router running now, waits for its /health. */
  async serve(command) {
    const port = Number(/--port\s+(\d+)/.exec(command)?.[1] ?? ROUTER_PORT);
    if (this.server) {
      await this.server.stop();
      await waitPortFree(this.port, `\`${command}\``).catch((err) => fail(`the router stopped, but ${err.message}`));
    }
    await assertPortFree(port, `\`${command}\``).catch((err) => fail(err.message));
    this.port = port;
    const log = join(tmp, `npm-start-${port}-${checked}.log`);
    this.server = startBackground("bash", ["-c", this.script(command)], { cwd: this.repo, env: this.env, logFile: log });
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/health`, { exited: this.server.exited, timeoutMs: Math.min(remaining(), 120_000), what: "npm start" })
      .catch((err) => fail(`${err.message}\n${this.server.log()}`));
    if (!existsSync(join(this.repo, "dist/worker"))) fail("npm start serves, but built nothing into dist/worker in the copy");
    const keyed = /--var\s+ROUTER_API_KEYS:/.test(command) || existsSync(join(this.repo, ".dev.vars"));
    const health = await (await fetch(`${base}/health`)).json();
    const want = keyed ? "keys" : "off";
    if (health.auth !== want) fail(`GET ${base}/health says auth ${JSON.stringify(health.auth)}, expected "${want}"`);
    const cliKey = /--var\s+ROUTER_API_KEYS:(\S+)/.exec(command)?.[1];
    if (cliKey) {
      const models = (key) => fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
      if ((await models(cliKey)) !== 200) fail("the key given with --var is refused on /v1/models");
      if ((await models(await this.devVarsKey())) !== 401) fail("the .dev.vars key is still accepted although --var ROUTER_API_KEYS should win");
      return `serves on ${port}, the --var key works and the .dev.vars key is refused`;
    }
    return `serves on ${port} with auth ${want}`;
  }

  /** Any other command: must exit 0; curl answers and variables are checked as well. */
  async command(command) {
    const assigned = ASSIGNMENT.exec(command)?.[1];
    const result = await this.run(assigned ? `${command}\nprintf '\\n@@var=%s' "\${${assigned}:-}"` : command);
    if (result.code !== 0) fail(`exit status ${result.code}\n${tailOf(result.stdout + result.stderr)}`);
    if (assigned) {
      if (!/\n@@var=./.test(result.stdout)) fail(`it leaves $${assigned} empty`);
      this.assignments.push(command);
      return `sets $${assigned}`;
    }
    if (/\bcurl\b/.test(command)) return checkCurl(command, result.stdout);
    if (/>\s*\.dev\.vars\b/.test(command)) {
      if (!/^ROUTER_API_KEYS=[0-9a-f]{48}\n$/.test(readFileSync(join(this.repo, ".dev.vars"), "utf8"))) fail(".dev.vars is not one ROUTER_API_KEYS=<48 hex> line");
      return "wrote .dev.vars with one key";
    }
    return "exit 0";
  }

  /** `agent-config -- X --write`: first without --write (writes nothing), then as written, then again (no change). */
  async agentConfig(command, text) {
    const target = /(?:^|\s)~\/(\S+)/.exec(commentOf(text))?.[1] ?? fail("its comment names no ~/ path to check the write against");
    const path = join(this.env.HOME, target);
    const dry = await this.run(command.replace(/\s--write\b/, ""));
    derived++;
    if (dry.code !== 0) fail(`without --write: exit status ${dry.code}\n${tailOf(dry.stderr)}`);
    if (existsSync(path)) fail(`without --write it wrote ${path}`);
    const first = await this.run(command);
    if (first.code !== 0) fail(`exit status ${first.code}\n${tailOf(first.stdout + first.stderr)}`);
    if (!existsSync(path)) fail(`it did not write ~/${target}`);
    const written = readFileSync(path, "utf8");
    if (written.includes(await this.devVarsKey())) fail(`~/${target} contains the key itself`);
    const before = statSync(path).mtimeMs;
    const again = await this.run(command);
    derived++;
    if (again.code !== 0 || readFileSync(path, "utf8") !== written || statSync(path).mtimeMs !== before || existsSync(`${path}.bak`)) {
      fail(`running it twice changed ~/${target} (or failed: ${again.code})`);
    }
    return `without --write writes nothing; writes ~/${target}; a second run changes nothing`;
  }

  /** The README's keyed curl without its key: must be refused. */
  async withoutKey(command) {
    const result = await this.run(command.replace(KEY_HEADER, ""));
    derived++;
    const { status, body } = curlAnswer(result.stdout);
    if (status !== 401 || !/"error"/.test(body)) fail(`without the key it answered ${status} instead of 401:\n${tailOf(body)}`);
  }
}

async function checkCommand(session, item) {
  let text = item.text;
  for (const [placeholder, value] of Object.entries({ "<key>": session.secondKey })) text = text.split(placeholder).join(value);
  const command = withoutComment(text);
  if (/\bnpm start\b/.test(command)) return session.serve(command);
  if (/\bnpm run agent-config --/.test(command) && /\s--write\b/.test(command)) return session.agentConfig(command, text);
  const outcome = await session.command(command);
  if (KEY_HEADER.test(command)) {
    await session.withoutKey(command);
    return `${outcome}; 401 without the key`;
  }
  return outcome;
}

async function main() {
  const readmePath = parseArgs(process.argv.slice(2));
  const sections = readCommands(readFileSync(readmePath, "utf8"));
  const problems = layoutProblems(sections);
  if (problems.length) fail(`${readmePath}:\n  ${problems.join("\n  ")}`);
  await assertPortFree(LLAMA_PORT, "llama-server (the bundled config's `local` provider)");
  await assertPortFree(ROUTER_PORT, "npm start");
  tmp = mkdtempSync(join(tmpdir(), "check-readme-"));
  const repo = join(tmp, "repo");
  copyRepository(readFileSync(readmePath, "utf8"), repo);
  const env = commandEnv();
  await startLlamaServer(env);
  const session = new Session(repo, env);
  budgetStart = Date.now();
  const watchdog = setTimeout(() => abort(`the README steps took longer than ${BUDGET_MS / 1000} s`, 1), BUDGET_MS + 5_000);
  for (const name of CHECKED_SECTIONS) {
    for (const item of sections.get(name)) {
      current = item;
      const skip = SKIPS.find((s) => s.match.test(item.text));
      if (skip) {
        skipped.push({ item, reason: skip.reason });
        continue;
      }
      const outcome = await checkCommand(session, item);
      checked++;
      console.log(`  ok  README.md:${item.line}  ${item.text}\n        -> ${outcome}`);
    }
  }
  current = undefined;
  clearTimeout(watchdog);
  for (const [name, commands] of sections) {
    if (name in UNCHECKED_SECTIONS) for (const item of commands) skipped.push({ item, reason: UNCHECKED_SECTIONS[name] });
  }
  await cleanup();
  const reasons = [...new Set(skipped.map((s) => s.reason))].map((r) => `${skipped.filter((s) => s.reason === r).length}: ${r}`);
  for (const { item, reason } of skipped) console.log(`  skip README.md:${item.line}  ${item.text}\n        -> ${reason}`);
  console.log(`  placeholders filled in: ${Object.entries(PLACEHOLDERS).map(([p, v]) => `${p} = ${v}`).join("; ")}`);
  console.log(`check-readme: ${checked} commands checked (+${derived} derived runs), ${skipped.length} skipped (${reasons.join("; ")}) in ${Math.round((Date.now() - started) / 1000)} s`);
}

async function cleanup() {
  await stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

async function abort(message, code) {
  const where = current ? `README.md:${current.line} (## ${current.section})\n  $ ${current.text}\n  ` : "";
  console.error(`check-readme: FAILED at ${where}${message}`);
  await cleanup();
  process.exit(code);
}

process.once("SIGINT", () => abort("interrupted (SIGINT)", 130));
process.once("SIGTERM", () => abort("terminated (SIGTERM)", 143));
main().catch((err) => abort(err instanceof StepFailure ? err.message : err.stack ?? String(err), 1));
