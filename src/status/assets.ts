/**
 * The status page's stylesheet and its one script, as constants: the page's CSP allows exactly these two by their
 * SHA-256 (no other style or script, no inline attribute, no eval). The page works without the script; with it, the
 * activity figures (requests in flight, tokens/s) refresh every few seconds from `/status.json` without a reload.
 */

export const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--dim:#5f6b7d;--line:#e3e6eb;--ok:#1a7f4b;--warn:#a86200;--bad:#c0352b;--unk:#6b7280}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1a1f26;--ink:#e7eaf0;--dim:#9aa4b2;--line:#2a313b;--ok:#3fbf7f;--warn:#e0a030;--bad:#f0645a}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1040px;margin:0 auto;padding:20px 16px 40px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 14px;margin-bottom:18px}
h1{font-size:22px;margin:0}h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--dim);margin:26px 0 10px}
.meta{color:var(--dim);font-size:13px}.meta b{color:var(--ink);font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:10px}.grid.wide{grid-template-columns:repeat(auto-fill,minmax(min(330px,100%),1fr))}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .id{font-weight:600;font-size:16px}.card .sub{color:var(--dim);font-size:13px;margin-top:2px}
.card .head{display:flex;flex-direction:column;align-items:flex-start;gap:4px}
.reason{font-size:13px;color:var(--bad);margin-top:6px}
.act{margin-top:8px;display:flex;flex-wrap:wrap;gap:2px 16px;font-size:13px;color:var(--dim);font-variant-numeric:tabular-nums}
.act span{white-space:nowrap}.act b{color:var(--ink);font-size:17px;margin-right:3px}
.pill{display:inline-flex;align-items:center;gap:6px;font-size:12px;font-weight:600;padding:2px 9px;border-radius:99px;border:1px solid currentColor;white-space:nowrap}
.pill:before{content:"";width:7px;height:7px;border-radius:50%;background:currentColor}
.online{color:var(--ok)}.loading{color:var(--warn)}.offline,.unauthorized{color:var(--bad)}.unknown{color:var(--unk)}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
th,td{text-align:left;padding:9px 12px;border-bottom:1px solid var(--line);vertical-align:middle;font-size:14px}
th{font-size:12px;color:var(--dim);font-weight:600}tr:last-child td{border-bottom:0}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.model{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:15px;font-weight:600;color:var(--ink);overflow-wrap:anywhere}
.model .p{color:var(--dim);font-weight:500}
tr.down td:not(.model-cell){opacity:.8}
progress{appearance:none;width:54px;height:6px;border:0;border-radius:3px;background:var(--line);vertical-align:middle;margin-left:6px;overflow:hidden}
progress::-webkit-progress-bar{background:var(--line)}progress::-webkit-progress-value{background:var(--ok)}progress::-moz-progress-bar{background:var(--ok)}
.dim{color:var(--dim)}
.members{list-style:none;margin:8px 0 0;padding:0;display:grid;gap:6px}
.members li{display:grid;grid-template-columns:1fr auto;align-items:center;gap:8px}
.members .model{font-size:14px}.members li.down .model{color:var(--dim)}
footer{margin-top:26px;color:var(--dim);font-size:12px}code{font-size:12px}
@media (max-width:640px){.card .head{flex-direction:row;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:4px 8px}thead{display:none}table,tbody{display:block}
tr{display:grid;grid-template-columns:1fr auto;gap:3px 10px;padding:10px 12px;border-bottom:1px solid var(--line)}tr:last-child{border-bottom:0}
td{display:block;border:0;padding:0}td.model-cell .model{font-size:16px}td[data-k=status]{grid-column:2;grid-row:1;align-self:center}
td[data-k=window],td[data-k=slots]{grid-column:1/-1}td[data-k=source]{display:none}
td[data-k=window]:before,td[data-k=slots]:before{content:attr(data-k);display:inline-block;min-width:64px;color:var(--dim);font-size:12px}}
`;

/**
 * Fills `[data-inflight]` and `[data-tps]` (by provider id) from `/status.json`; writes text only,
 * never HTML. Skips while the tab is hidden; a failed fetch leaves the figures as they were.
 */
export const SCRIPT = `(() => {
  const put = (attr, value) => {
    for (const el of document.querySelectorAll("[" + attr + "]")) {
      const text = value(el.getAttribute(attr));
      if (text !== undefined) el.textContent = text;
    }
  };
  const tick = async () => {
    if (document.hidden) return;
    try {
      const res = await fetch("/status.json", { cache: "no-store" });
      if (!res.ok) return;
      const data = await res.json();
      const by = new Map(data.providers.map((p) => [p.id, p]));
      put("data-inflight", (id) => (by.has(id) ? String(by.get(id).inFlight) : undefined));
      put("data-tps", (id) => (by.has(id) ? (by.get(id).tokensPerSecond === null ? "\\u2013" : by.get(id).tokensPerSecond.toFixed(1)) : undefined));
      const live = document.getElementById("live");
      if (live) live.textContent = "activity live, updated " + new Date().toLocaleTimeString();
    } catch {}
  };
  setInterval(tick, 3000);
  tick();
})();`;

export const sha256Base64 = async (text: string) =>
  btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))));
