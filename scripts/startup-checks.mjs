// The start-up rules `npm start` and `npm run dev` enforce before anything listens, and the secret-length rule
// `npm run config -- check` applies. The Worker enforces the same rules itself (src/settings.ts); a unit test keeps
// the two in agreement. Messages name settings, never their values.
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Same value as src/settings.ts: shorter secrets cannot be redacted safely, so they are refused. */
export const MIN_SECRET_LENGTH = 8;

/** Addresses only this machine can reach. */
export function isLoopbackAddress(ip) {
  const host = ip.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

export function clientKeys(bindings) {
  return (typeof bindings.ROUTER_API_KEYS === "string" ? bindings.ROUTER_API_KEYS : "").split(",").map((k) => k.trim()).filter(Boolean);
}

/** The secret names a providers config refers to (`auth.*Secret`), read without validating the rest. */
export function upstreamSecretNames(configText) {
  let config;
  try {
    config = JSON.parse(configText);
  } catch {
    return [];
  }
  const names = new Set();
  for (const provider of Array.isArray(config?.providers) ? config.providers : []) {
    for (const field of ["apiKeySecret", "accessClientIdSecret", "accessClientSecretSecret"]) {
      const name = provider?.auth?.[field];
      if (typeof name === "string" && name) names.add(name);
    }
  }
  return [...names];
}

/** The names in `data/llama-providers.json` (or $LLAMA_PROVIDERS_PATH), none if the file is missing. */
export function bundledSecretNames(path = process.env.LLAMA_PROVIDERS_PATH || "data/llama-providers.json") {
  return existsSync(path) ? upstreamSecretNames(readFileSync(path, "utf8")) : [];
}

/** One line per secret that is set but too short: client keys, the admin key, the named upstream secrets. */
export function shortSecrets(bindings, upstreamNames = []) {
  const problems = [];
  const tooShort = (label) => problems.push(`${label} is shorter than ${MIN_SECRET_LENGTH} characters; the router refuses secrets it cannot redact safely (use a long random value)`);
  clientKeys(bindings).forEach((key, i) => key.length < MIN_SECRET_LENGTH && tooShort(`ROUTER_API_KEYS entry ${i + 1}`));
  for (const name of ["ROUTER_ADMIN_KEY", ...upstreamNames]) {
    const value = typeof bindings[name] === "string" ? bindings[name].trim() : "";
    if (value && value.length < MIN_SECRET_LENGTH) tooShort(name);
  }
  return problems;
}

/**
 * The start-up decision for a listener on `ip` with these bindings: `{ errors, authOff, keys }`. Auth may be off only on
 * loopback; off together with keys is refused rather than resolved; a listener others can reach needs keys.
 * `authOff` says whether to set ROUTER_AUTH=off (no keys and no ROUTER_AUTH given, on loopback).
 */
export function startupDecision({ ip, bindings, upstreamNames = [], command = "npm start" }) {
  const keys = clientKeys(bindings);
  const errors = [];
  if (bindings.ROUTER_AUTH === "off" && keys.length) {
    errors.push("ROUTER_AUTH=off and ROUTER_API_KEYS are both set: remove ROUTER_AUTH=off to require the keys, or remove the keys for keyless local development");
  } else if (!isLoopbackAddress(ip) && !keys.length) {
    errors.push(
      `refusing to listen on ${ip} without client keys: anyone who can reach this machine could use the router${bindings.ROUTER_AUTH === "off" ? " (ROUTER_AUTH=off works only on 127.0.0.1, ::1 or localhost)" : ""}. ` +
        `Give a key: ${command} -- --ip ${ip} --var ROUTER_API_KEYS:<key> (or ROUTER_API_KEYS=<key> in .dev.vars), or listen on 127.0.0.1`,
    );
  }
  errors.push(...shortSecrets(bindings, upstreamNames));
  const authOff = !errors.length && !keys.length && bindings.ROUTER_AUTH === undefined;
  return { errors, authOff, keys: keys.length > 0 };
}

/** Resolves when `ip:port` can be listened on; rejects with a person's message when it cannot (in use, not ours). */
export function checkPortFree(ip, port) {
  // Port 0 is probed too: it cannot be in use, but the address can be wrong.
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (err) => {
      const where = `${ip.includes(":") ? `[${ip}]` : ip}:${port}`;
      if (err.code === "EADDRINUSE") reject(new Error(`${where} is already in use (another npm start or npm run dev?); pick another port with --port N`));
      else if (err.code === "EADDRNOTAVAIL") reject(new Error(`${ip} is not an address of this machine; use --ip 127.0.0.1, or 0.0.0.0 for all interfaces`));
      else reject(new Error(`cannot listen on ${where}: ${err.message}`));
    });
    probe.listen({ host: ip, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** Where the banner says the router is: the address listened on, and for a wildcard how to reach it from here. */
export function listeningDescription(ip, port) {
  const wildcard = ip === "0.0.0.0" || ip === "::" || ip === "[::]";
  const host = ip.includes(":") && !ip.startsWith("[") ? `[${ip}]` : ip;
  const url = `http://${host}:${port}`;
  if (!wildcard) return url;
  return `${url}, listening on all interfaces (from this machine: http://${ip === "0.0.0.0" ? "127.0.0.1" : "[::1]"}:${port})`;
}
