/**
 * The status page's HTML, from the public view only (view.ts), every value escaped. Readable on a phone (the table
 * turns into labelled blocks) and useful without JavaScript: every figure is in the HTML as rendered.
 */
import { SCRIPT, STYLE } from "./assets.js";
import type { PublicAlias, PublicModel, PublicProvider, PublicReason, PublicStatus } from "./view.js";

export interface PageMeta {
  source: string;
  version: number;
  kvRefused: boolean;
  auth: string;
}

/** What each reason means, in a few words a person understands. */
const REASON_TEXT: Record<PublicReason, string> = {
  unreachable: "unreachable: no connection to the host",
  unauthorized: "unauthorized: the host refused the router's credentials",
  timeout: "timeout: the host did not answer in time",
  error: "error: the host answered with an error",
};

/** Members that cannot take a request now. */
const isDown = (status: string) => status !== "online" && status !== "loading";

export function statusBody(view: PublicStatus, meta: PageMeta, reuseSeconds: number): string {
  const facts = [
    `config <b>${esc(meta.source)}</b> v<b>${meta.version}</b>`,
    meta.kvRefused ? `<span class="offline">KV copy refused</span>` : "",
    `auth <b>${esc(meta.auth)}</b>`,
    view.checkedAt ? `checked ${esc(view.checkedAt.replace("T", " ").slice(0, 19))} UTC` : "",
    `<span id="live"></span>`,
  ].filter(Boolean);
  const down = view.models.filter((m) => isDown(m.status)).length;
  return `
  <header><h1>boocode-router</h1><span class="meta">${facts.join(" · ")}</span></header>
  <h2>Providers (${view.providers.length})</h2><div class="grid">${view.providers.map(providerCard).join("") || `<p class="dim">No providers configured.</p>`}</div>
  <h2>Models (${view.models.length}${down ? `, ${down} down` : ""})</h2>
  ${view.models.length ? modelTable(view.models) : `<p class="dim">No models yet: configure some, or start a host with discovery on.</p>`}
  ${view.aliases.length ? `<h2>Aliases (${view.aliases.length})</h2><div class="grid wide">${view.aliases.map(aliasCard).join("")}</div>` : ""}
  <footer>Window: the context one request can use (the host's per-slot <code>n_ctx</code>). In flight and tokens/s:
  what this router instance sent and measured over the last minute, refreshed every 3 s with JavaScript. Health and slots are
  re-checked at most every ${reuseSeconds} s for visitors without a key; the page reloads every 30 s.
  Machine-readable: <code>/status.json</code>, <code>/health</code>, <code>/api/catalog</code> (with a key).</footer>`;
}

function providerCard(p: PublicProvider): string {
  const reason = p.reason ? `<div class="reason" data-reason="${p.reason}">${esc(REASON_TEXT[p.reason])}</div>` : "";
  const tps = p.tokensPerSecond === null ? "–" : p.tokensPerSecond.toFixed(1);
  const slots = p.slots ? `<span data-slots="${esc(p.id)}"><b>${p.slots.busy}/${p.slots.total}</b>slots busy</span>` : "";
  const loaded = p.loadedModels ? `<div class="sub" data-loaded="${esc(p.id)}">loaded: ${p.loadedModels.length ? p.loadedModels.map(modelId).join(", ") : "none"}</div>` : "";
  return `<div class="card"><div class="head"><span class="id">${esc(p.label)}</span>${pill(p.status)}</div>
    <div class="sub">${esc(p.id)}${p.latencyMs !== null ? ` · ${p.latencyMs} ms` : ""}</div>${reason}${loaded}
    <div class="act"><span><b data-inflight="${esc(p.id)}">${p.inFlight}</b>in flight</span><span><b data-tps="${esc(p.id)}">${tps}</b>tok/s</span>${slots}</div></div>`;
}

function modelTable(models: PublicModel[]): string {
  const rows = models.map((m) => {
    const state = m.status === "online" && m.loaded === false ? `<span class="dim">not loaded</span>` : pill(m.status);
    const slots = m.slots ? `${m.slots.busy}/${m.slots.total} busy<progress max="${m.slots.total}" value="${m.slots.busy}"></progress>` : `<span class="dim">–</span>`;
    const window = m.contextLength === null ? `<span class="dim">unknown</span>` : thousands(m.contextLength);
    const trained = m.contextTrain ? ` <span class="dim">/ ${thousands(m.contextTrain)} trained</span>` : "";
    return `<tr data-model="${esc(m.id)}"${isDown(m.status) ? ` class="down"` : ""}><td class="model-cell">${modelId(m.id)}</td><td data-k="status">${state}</td>
      <td class="num" data-k="window">${window}${trained}</td><td class="num" data-k="slots">${slots}</td><td data-k="source" class="dim">${esc(m.source)}</td></tr>`;
  });
  return `<table><thead><tr><th>Model</th><th>Status</th><th>Window</th><th>Slots</th><th>Source</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function aliasCard(alias: PublicAlias): string {
  const up = alias.members.filter((m) => !isDown(m.status)).length;
  const members = alias.members.map(
    (m) => `<li data-member="${esc(m.id)}"${isDown(m.status) ? ` class="down"` : ""}>${modelId(m.id)}${pill(m.status)}</li>`,
  );
  return `<div class="card"><div class="id model">${esc(alias.name)}</div><div class="sub">${up} of ${alias.members.length} members up${alias.policy === "replicas" ? " · replicas" : ""}</div>
    <ul class="members">${members.join("")}</ul></div>`;
}

/** `provider/model`, the provider part dimmed and a line break allowed after the slash (never inside a word). */
function modelId(id: string): string {
  const slash = id.indexOf("/");
  const inner = slash < 0 ? esc(id) : `<span class="p">${esc(id.slice(0, slash + 1))}</span><wbr>${esc(id.slice(slash + 1))}`;
  return `<span class="model">${inner}</span>`;
}

export function page(body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="30"><title>boocode-router status</title><style>${STYLE}</style></head><body><main>${body}</main><script>${SCRIPT}</script></body></html>`;
}

const pill = (status: string) => `<span class="pill ${esc(status)}">${esc(status)}</span>`;
const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
