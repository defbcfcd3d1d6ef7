#!/usr/bin/env node
// `npm start [-- flags]`: the built router on plain workerd, for real use on your own machine.
//
// No dev server in the path: the Worker is built once (`wrangler deploy --dry-run --outdir dist/worker`, the exact
// bundle `wrangler deploy` uploads) and served by `miniflare` (a devDependency pinned to the version wrangler 4.86.0
// runs). The listening socket belongs to workerd and goes straight to the Worker (a miniflare "direct socket"): no
// Node.js process, no wrangler proxy and no miniflare entry worker handles a request. Node only starts workerd and
// prints what the Worker logs. `npm run bench` measures this (README, "Benchmark").
//
// Same flags and state as `npm run dev`:
//   --port N              default 8787
//   --ip ADDR             default 127.0.0.1
//   --var NAME:VALUE      a variable (repeatable; several pairs after one --var also work, as with wrangler)
//   --persist-to DIR      local state folder (default .wrangler/state): the KV copy `npm run config -- push --local
//                         [--persist-to DIR]` writes, re-read by the Worker every 2 s, no restart needed
//   --env-file FILE       secrets file(s) instead of .dev.vars (repeatable); default .dev.vars, else .env
//   --config FILE         wrangler config (default: the one wrangler finds, wrangler.toml); read by wrangler itself
//                         (unstable_readConfig) in a short-lived child process; bindings it cannot serve are refused
//   --outdir DIR          build output (default dist/worker)
//   --no-build            serve what is already in --outdir
// Client auth is OFF unless keys are given (--var ROUTER_API_KEYS:<key> or .dev.vars), as with `npm run dev`, and only
// on loopback; the other start-up refusals are in scripts/startup-checks.mjs. Code changes need a restart; pushes don't.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { bundledSecretNames, checkPortFree, listeningDescription, startupDecision } from "./startup-checks.mjs";

const USAGE = "usage: npm start [-- --port N] [--ip ADDR] [--var NAME:VALUE ...] [--persist-to DIR] [--env-file FILE] [--config FILE] [--outdir DIR] [--no-build]";

/** Parses the command line; throws with a message on anything unknown. */
export function parseArgs(argv) {
  const opts = { port: 8787, ip: "127.0.0.1", vars: {}, persistTo: ".wrangler/state", envFiles: [], config: undefined, outdir: "dist/worker", build: true };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) [arg, inline] = [arg.slice(0, eq), arg.slice(eq + 1)];
    const value = () => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined || next.startsWith("--")) throw new Error(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case "--port": {
        const port = Number(value());
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error("--port must be 0..65535");
        opts.port = port;
        break;
      }
      case "--ip": opts.ip = value(); break;
      case "--persist-to": opts.persistTo = value(); break;
      case "--env-file": opts.envFiles.push(value()); break;
      case "--config": case "-c": opts.config = value(); break;
      case "--outdir": opts.outdir = value(); break;
      case "--no-build": opts.build = false; break;
      case "--var": {
        const pairs = [value()];
        if (inline === undefined) while (argv[i + 1] !== undefined && !argv[i + 1].startsWith("-")) pairs.push(argv[++i]);
        for (const pair of pairs) {
          const colon = pair.indexOf(":");
          if (colon <= 0) throw new Error(`--var wants NAME:VALUE, got ${JSON.stringify(pair)}`);
          opts.vars[pair.slice(0, colon)] = pair.slice(colon + 1);
        }
        break;
      }
      case "--help": case "-h": throw Object.assign(new Error(USAGE), { help: true });
      default: throw new Error(`unknown argument ${JSON.stringify(argv[i])}\n${USAGE}`);
    }
  }
  return opts;
}

/**
 * Config settings that need nothing at run time, or that the build (`wrangler deploy --dry-run`) already applied.
 * Any OTHER setting of wrangler's config that is not empty is a binding or a feature `npm start` cannot serve (D1, R2,
 * Durable Objects, services, queues, crons, assets, ...): it is refused rather than silently dropped.
 */
const HARMLESS = new Set([
  "configPath", "userConfigPath", "topLevelName", "definedEnvironments", "targetEnvironment", "legacy_env", "send_metrics",
  "keep_vars", "account_id", "compatibility_date", "compatibility_flags", "jsx_factory", "jsx_fragment", "tsconfig", "rules",
  "name", "main", "find_additional_modules", "preserve_file_names", "base_dir", "route", "routes", "workers_dev",
  "preview_urls", "limits", "placement", "build", "define", "alias", "no_bundle", "minify", "keep_names",
  "first_party_worker", "logpush", "upload_source_maps", "observability", "compliance_region", "python_modules",
  "previews", "dev", "secrets", "vars", "kv_namespaces",
]);

const isEmpty = (v) => v == null || v === false || v === "" || (Array.isArray(v) ? v.every(isEmpty) : typeof v === "object" ? Object.values(v).every(isEmpty) : false);

/**
 * wrangler's own reading of the config (TOML or JSON, defaults, validation), via `unstable_readConfig` in a
 * short-lived child process (~1.8 s) so that wrangler (200 MB) never lives in the long-running process.
 */
export function loadWranglerConfig(configPath) {
  const script = `
    let out;
    try {
      const { unstable_readConfig } = await import("wrangler");
      out = { config: unstable_readConfig(${JSON.stringify(configPath ? { config: configPath } : {})}) };
    } catch (err) {
      out = { error: err?.message ?? String(err) };
    }
    process.stdout.write("\\n@@config@@" + JSON.stringify(out) + "\\n");`;
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    maxBuffer: 64 << 20,
  });
  const line = result.stdout?.split("\n").find((l) => l.startsWith("@@config@@"));
  const out = line ? JSON.parse(line.slice("@@config@@".length)) : { error: `${result.stderr}${result.stdout}`.trim() };
  if (out.error) throw new Error(`cannot read the wrangler config${configPath ? ` ${configPath}` : ""}: ${out.error}`);
  return out.config;
}

/** What a local run needs from wrangler's config: entry facts, vars, KV namespaces; refuses anything else it would drop. */
export function runtimeSettings(config) {
  const unsupported = Object.keys(config).filter((k) => !HARMLESS.has(k) && !isEmpty(config[k]));
  const where = config.configPath ?? "the wrangler config";
  if (unsupported.length) throw new Error(`${where}: npm start cannot serve ${unsupported.join(", ")}; use npm run dev`);
  if (!config.compatibility_date) throw new Error(`${where}: compatibility_date is missing`);
  return {
    name: config.name ?? "worker",
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    // As wrangler dev binds them: strings stay strings, other values become JSON bindings.
    vars: { ...(config.vars ?? {}) },
    // wrangler dev (and `wrangler kv key put --local`) key the local namespace by preview_id, else id.
    kvNamespaces: Object.fromEntries((config.kv_namespaces ?? []).map((ns) => [ns.binding, ns.preview_id ?? ns.id ?? ns.binding])),
  };
}

/** `loadWranglerConfig` + `runtimeSettings`. */
export function readWranglerConfig(configPath) {
  return runtimeSettings(loadWranglerConfig(configPath));
}

/** dotenv as wrangler reads `.dev.vars`: KEY=VALUE lines, optional `export`, quotes, `#` comments. */
export function parseDotenv(text) {
  const out = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let value = m[2];
    const q = value[0];
    if ((q === '"' || q === "'" || q === "`") && value.lastIndexOf(q) > 0) {
      value = value.slice(1, value.lastIndexOf(q));
      if (q === '"') value = value.replace(/\\n/g, "\n").replace(/\\r/g, "\r");
    } else {
      value = value.replace(/\s+#.*$/, "");
    }
    out[m[1]] = value;
  }
  return out;
}

/** Secrets as `wrangler dev` finds them: the --env-file files, else .dev.vars, else .env. */
export function readSecrets(envFiles, root = ".") {
  const files = envFiles.length ? envFiles : [".dev.vars", ".env"].map((f) => resolve(root, f)).filter(existsSync).slice(0, 1);
  const secrets = {};
  for (const file of files) Object.assign(secrets, parseDotenv(readFileSync(file, "utf8")));
  return { secrets, files };
}

/** `wrangler deploy --dry-run --outdir DIR`: the bundle a deploy would upload. Quiet unless it fails. */
export function buildWorker({ outdir = "dist/worker", config } = {}) {
  const args = ["node_modules/wrangler/bin/wrangler.js", "deploy", "--dry-run", "--outdir", outdir];
  if (config) args.push("--config", config);
  const result = spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  if (result.status !== 0) throw new Error(`build failed (wrangler deploy --dry-run):\n${result.stdout}\n${result.stderr}`);
  const size = /Total Upload: (.+)/.exec(result.stdout)?.[1]?.trim();
  return { scriptPath: resolve(outdir, "index.js"), size };
}

/**
 * Serves a built module Worker on workerd through miniflare, on a direct socket: `ip:port` is workerd's own listener
 * bound to the Worker (no entry worker, no request logging through Node). Returns { url, dispose }.
 */
export async function serveWorker({ scriptPath, compatibilityDate, compatibilityFlags = [], bindings = {}, kvNamespaces = {}, persistTo = ".wrangler/state", ip = "127.0.0.1", port = 8787, name = "worker", onStdout, onStderr }) {
  // miniflare: a devDependency pinned to the version wrangler 4.86.0 itself runs (so `npm run dev` and this agree).
  const { Miniflare, Log, LogLevel } = await import("miniflare");
  const mf = new Miniflare({
    name,
    scriptPath: resolve(scriptPath),
    // Module names are paths relative to this root; the default (the cwd) breaks for a build outside the project.
    modulesRoot: dirname(resolve(scriptPath)),
    modules: true,
    compatibilityDate,
    compatibilityFlags,
    bindings,
    kvNamespaces,
    kvPersist: resolve(persistTo, "v3", "kv"),
    // miniflare's own entry socket stays on a loopback port nobody uses; clients talk to the direct socket.
    host: "127.0.0.1",
    port: 0,
    unsafeDirectSockets: [{ host: ip, port }],
    logRequests: false,
    // No Request.cf download from workers.cloudflare.com (a placeholder is used, as offline wrangler dev does).
    cf: false,
    log: new Log(LogLevel.WARN),
    handleRuntimeStdio(stdout, stderr) {
      if (onStdout) createInterface(stdout).on("line", onStdout);
      else stdout.pipe(process.stdout);
      // A listener workerd cannot bind (taken after main()'s check) is a kj::Exception plus a stack of addresses: one line.
      let fatalBind = false;
      const write = onStderr ?? ((line) => process.stderr.write(line + "\n"));
      createInterface(stderr).on("line", (line) => {
        const bind = /^\*\*\* Fatal uncaught kj::Exception: .*::bind\(.*?\): ([^;]+); toString\(\) = (\S+)/.exec(line);
        if (bind) write(`boocode-router: workerd could not listen on ${bind[2]}: ${bind[1]}`);
        else if (!(fatalBind && line.startsWith("stack: "))) write(line);
        fatalBind ||= Boolean(bind);
      });
    },
  });
  await mf.ready;
  const url = await mf.unsafeGetDirectURL(name);
  return { url: url.origin, mf, dispose: () => mf.dispose() };
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(err.help ? 0 : 2);
  }
  let wrangler;
  try {
    wrangler = readWranglerConfig(opts.config);
  } catch (err) {
    console.error(`boocode-router: ${err.message}`);
    process.exit(1);
  }

  const { secrets, files } = readSecrets(opts.envFiles);
  // Precedence as in wrangler dev: [vars] < .dev.vars < --var.
  const bindings = { ...wrangler.vars, ...secrets, ...opts.vars };
  // Refused before building or listening: nothing may serve, even for a moment, with settings that are unsafe.
  const decision = startupDecision({ ip: opts.ip, bindings, upstreamNames: bundledSecretNames() });
  if (decision.errors.length) {
    for (const error of decision.errors) console.error(`boocode-router: ${error}`);
    process.exit(1);
  }
  try {
    await checkPortFree(opts.ip, opts.port);
  } catch (err) {
    console.error(`boocode-router: could not start: ${err.message}`);
    process.exit(1);
  }
  if (decision.authOff) {
    bindings.ROUTER_AUTH = "off";
    console.error("boocode-router: no client keys given, so client auth is OFF (local development only; /health says so).");
  }

  if (opts.build) {
    const started = Date.now();
    const { size } = buildWorker({ outdir: opts.outdir, config: opts.config });
    console.error(`boocode-router: built ${opts.outdir}/index.js (${size ?? "?"}) in ${Date.now() - started} ms`);
  } else if (!existsSync(resolve(opts.outdir, "index.js"))) {
    console.error(`${opts.outdir}/index.js is missing: run without --no-build`);
    process.exit(1);
  }

  let server;
  try {
    server = await serveWorker({
      scriptPath: resolve(opts.outdir, "index.js"),
      name: wrangler.name,
      compatibilityDate: wrangler.compatibilityDate,
      compatibilityFlags: wrangler.compatibilityFlags,
      bindings,
      kvNamespaces: wrangler.kvNamespaces,
      persistTo: opts.persistTo,
      ip: opts.ip,
      port: opts.port,
    });
  } catch (err) {
    console.error(`boocode-router: could not start: ${err.message}`);
    process.exit(1);
  }
  const auth = bindings.ROUTER_AUTH === "off" ? "off" : decision.keys ? "keys" : "closed";
  // The URL miniflare hands back is where Node can reach the socket (127.0.0.1 for 0.0.0.0); the banner names the
  // address actually listened on, with the port workerd picked when --port 0 asked for any.
  const port = Number(new URL(server.url).port);
  console.error(`boocode-router: serving on ${listeningDescription(opts.ip, port)}; workerd, no dev server; state ${opts.persistTo}; secrets ${files.length ? files.join(", ") : "none"}; client auth ${auth}`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.dispose().catch(() => {});
    process.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
