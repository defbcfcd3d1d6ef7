/**
 * `GET /` and `GET /status.json`: the status page for people and the activity figures its script refreshes from.
 * Each provider's health (and why it is down), each model's window and slot use (down ones stay listed as such),
 * alias members that are down, and live activity: requests in flight and tokens/s per provider.
 *
 * Both are PUBLIC, like `/health`, so they show only the public view (status/view.ts): never a base URL, a host's
 * error text, a secret's name or value. (A browser cannot send the client key on a plain visit; a key in the URL
 * would end up in history and in proxies' and Cloudflare's request logs.) And anonymous callers cannot make the hosts
 * work: the page reuses the isolate's last snapshot for a few seconds (status/snapshot.ts), and `/status.json` never
 * asks a host at all (activity is counted by the router on the way past, health is the last snapshot's).
 */
import { authMode, matchesAny, presentedKey } from "./auth.js";
import { liveConfig } from "./config/load.js";
import type { Handler } from "./request-context.js";
import type { Env } from "./env.js";
import { json } from "./http.js";
import { clientKeys } from "./settings.js";
import { SCRIPT, STYLE, sha256Base64 } from "./status/assets.js";
import { page, statusBody } from "./status/render.js";
import { ANONYMOUS_REUSE_MS, cachedSnapshot, statusSnapshot } from "./status/snapshot.js";
import { publicStatus } from "./status/view.js";

let policy: Promise<string> | undefined;

/** Only the page's own stylesheet and script run, by hash; the script may fetch from this origin only. */
const contentSecurityPolicy = () =>
  (policy ??= Promise.all([sha256Base64(STYLE), sha256Base64(SCRIPT)]).then(
    ([style, script]) =>
      `default-src 'none'; style-src 'sha256-${style}'; script-src 'sha256-${script}'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
  ));

export const statusPageHandler: Handler = async (request, env) => {
  const headers = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": await contentSecurityPolicy(),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  };
  let live;
  try {
    live = await liveConfig(env);
  } catch {
    return new Response(page(`<p>The router has no valid providers config. <a href="/health">/health</a> says why.</p>`), { status: 503, headers });
  }
  const snapshot = await statusSnapshot(live.config, env, { fresh: await hasClientKey(request, env) });
  const meta = { source: live.source, version: live.version, kvRefused: Boolean(live.kvError), auth: authMode(env) };
  return new Response(page(statusBody(publicStatus(live.config, snapshot), meta, ANONYMOUS_REUSE_MS / 1000)), { headers });
};

/** The public view as JSON, from what this isolate already knows: never a host call, whoever asks. */
export const statusJsonHandler: Handler = async (_request, env) => {
  const live = await liveConfig(env);
  const snapshot = await cachedSnapshot(live.config)?.catch(() => undefined);
  return json(publicStatus(live.config, snapshot), { headers: { "cache-control": "no-store", "x-content-type-options": "nosniff" } });
};

/** Only a caller presenting a valid client key makes the page ask the hosts afresh (with auth off nobody does). */
async function hasClientKey(request: Request, env: Env): Promise<boolean> {
  const key = presentedKey(request);
  if (authMode(env) !== "keys") return false;
  return key !== undefined && (await matchesAny(key, clientKeys(env)));
}
