/**
 * `GET /`: a small status page for people (DESIGN §5): each provider's health, each model's window and slot use,
 * and which config is live. Server-rendered HTML with no script at all (the CSP forbids any), readable on a phone.
 *
 * It is PUBLIC, like `/health`, and so shows only what is safe to show anyone: provider ids, labels and status
 * words, model ids and windows, slot counts, the config's source and version, the auth mode. Never a base URL,
 * a host's error text, a secret's name or value. (A browser cannot send the client key on a plain visit; a key in
 * the URL would end up in history and in proxies' and Cloudflare's request logs, which the router cannot scrub.)
 * Probes are the catalog's, cached per isolate, so reloading the page cannot hammer the hosts.
 */
import { authMode } from "./auth.js";
import { buildCatalog, slotUse, type CatalogModel, type SlotUse } from "./catalog/catalog.js";
import { liveConfig } from "./config/load.js";
import type { Handler } from "./context.js";

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--dim:#5f6b7d;--line:#e3e6eb;--ok:#1a7f4b;--warn:#a86200;--bad:#c0352b;--unk:#6b7280}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1a1f26;--ink:#e7eaf0;--dim:#9aa4b2;--line:#2a313b;--ok:#3fbf7f;--warn:#e0a030;--bad:#f0645a}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:980px;margin:0 auto;padding:20px 16px 40px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 14px;margin-bottom:18px}
h1{font-size:22px;margin:0}h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--dim);margin:26px 0 10px}
.meta{color:var(--dim);font-size:13px}.meta b{color:var(--ink);font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .id{font-weight:600}.card .sub{color:var(--dim);font-size:13px;margin-top:2px}
.pill{display:inline-flex;align-items:center;gap:6px;font-size:12px;font-weight:600;padding:2px 9px;border-radius:99px;border:1px solid currentColor}
.pill:before{content:"";width:7px;height:7px;border-radius:50%;background:currentColor}
.online{color:var(--ok)}.loading{color:var(--warn)}.offline,.unauthorized{color:var(--bad)}.unknown{color:var(--unk)}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
th,td{text-align:left;padding:9px 12px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--dim);font-weight:600}tr:last-child td{border-bottom:0}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}.model{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;word-break:break-all}
progress{appearance:none;width:54px;height:6px;border:0;border-radius:3px;background:var(--line);vertical-align:middle;margin-left:6px;overflow:hidden}
progress::-webkit-progress-bar{background:var(--line)}progress::-webkit-progress-value{background:var(--ok)}progress::-moz-progress-bar{background:var(--ok)}
.dim{color:var(--dim)}.card .state{margin-top:8px}
footer{margin-top:26px;color:var(--dim);font-size:12px}code{font-size:12px}
@media (max-width:640px){thead{display:none}table,tbody,tr,td{display:block;width:100%}tr{border-bottom:1px solid var(--line);padding:6px 0}
td{border:0;padding:3px 12px}td[data-k]:before{content:attr(data-k);display:inline-block;min-width:92px;color:var(--dim);font-size:12px}}
`;

let styleHash: Promise<string> | undefined;
const sha256 = async (text: string) =>
  btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))));

export const statusPageHandler: Handler = async (_request, env) => {
  styleHash ??= sha256(STYLE);
  const headers = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": `default-src 'none'; style-src 'sha256-${await styleHash}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  };
  let live;
  try {
    live = await liveConfig(env);
  } catch {
    return new Response(page(`<p>The router has no valid providers config. <a href="/health">/health</a> says why.</p>`), { status: 503, headers });
  }
  const catalog = await buildCatalog(live.config, env);
  const slots = await Promise.all(catalog.models.map((m) => slotUse(live.config, env, m, 2_000)));
  const meta = [
    `config <b>${esc(live.source)}</b> v<b>${live.version}</b>`,
    live.kvError ? `<span class="offline">KV copy refused</span>` : "",
    `auth <b>${esc(authMode(env))}</b>`,
    `checked ${esc(catalog.generatedAt.replace("T", " ").slice(0, 19))} UTC`,
  ].filter(Boolean);
  const providers = catalog.providers.map(
    (p) => `<div class="card"><div class="id">${esc(p.label)}</div><div class="sub">${esc(p.id)}${p.latencyMs !== undefined ? ` · ${p.latencyMs} ms` : ""}</div>
      <div class="state">${pill(p.status)}</div></div>`,
  );
  const aliases = Object.entries(catalog.aliases).map(([name, to]) => `<div class="card"><div class="id model">${esc(name)}</div><div class="sub model">→ ${esc([to].flat().join(", "))}</div></div>`);
  const body = `
  <header><h1>boocode-router</h1><span class="meta">${meta.join(" · ")}</span></header>
  <h2>Providers (${catalog.providers.length})</h2><div class="grid">${providers.join("") || `<p class="dim">No providers configured.</p>`}</div>
  <h2>Models (${catalog.models.length})</h2>
  ${catalog.models.length ? modelTable(catalog.models, slots) : `<p class="dim">No models yet: configure some, or start a host with discovery on.</p>`}
  ${aliases.length ? `<h2>Aliases</h2><div class="grid">${aliases.join("")}</div>` : ""}
  <footer>Window: the context one request can use (the host's per-slot <code>n_ctx</code>). Machine-readable:
  <code>/health</code>, <code>/api/catalog</code> (with a key). Refreshes every 30 s.</footer>`;
  return new Response(page(body), { headers });
};

function modelTable(models: CatalogModel[], slots: (SlotUse | null)[]): string {
  const rows = models.map((m, i) => {
    const use = slots[i];
    const state = m.loaded === false ? `<span class="dim">not loaded</span>` : pill(m.status);
    const slotCell = use ? `${use.busy}/${use.total} busy<progress max="${use.total}" value="${use.busy}"></progress>` : `<span class="dim">–</span>`;
    return `<tr><td class="model" data-k="model">${esc(m.id)}</td><td data-k="status">${state}</td>
      <td class="num" data-k="window">${m.contextLength === null ? `<span class="dim">unknown</span>` : thousands(m.contextLength)}${m.contextTrain ? ` <span class="dim">/ ${thousands(m.contextTrain)} trained</span>` : ""}</td>
      <td class="num" data-k="slots">${slotCell}</td><td data-k="source" class="dim">${esc(m.source)}</td></tr>`;
  });
  return `<table><thead><tr><th>Model</th><th>Status</th><th>Window</th><th>Slots</th><th>Source</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function page(body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="30"><title>boocode-router status</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

const pill = (status: string) => `<span class="pill ${esc(status)}">${esc(status)}</span>`;
const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
