#!/usr/bin/env node
// Profiling harness, part 2: interleaved requests against the targets that up.mjs started.
//   node bench/prof/client.mjs --mode json|stream --n 200 --up synth|llama [--client http|fetch] [--only a,b] [--raw FILE]
// Targets: direct, native, floor, and every router up.mjs started. Each iteration sends one request to every target, in
// rotated order. Per request: headers (response line received), first body byte, TTFT (stream: first content event),
// end (last byte), the number of body reads the client saw, bytes. Prints p50/p90 and p50 differences to `native`.
import http from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const argv = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const MODE = arg("--mode", "json");
const N = Number(arg("--n", "200"));
const UP = arg("--up", "synth");
const CLIENT = arg("--client", "http");
const ONLY = arg("--only", "");
const RAW = arg("--raw", "");
const WARM = Number(arg("--warm", "20"));
const TOKENS = Number(arg("--tokens", "64"));
const t = JSON.parse(readFileSync(new URL("../../.cache/prof/targets.json", import.meta.url), "utf8"));
const upUrl = UP === "synth" ? t.synthUrl : t.llamaUrl;
const targets = {
  direct: { url: `${upUrl}/v1/chat/completions`, model: "tiny" },
  native: { url: `${t.floorUrl}/native/${UP}/v1/chat/completions`, model: "tiny" },
  floor: { url: `${t.floorUrl}/${UP}/v1/chat/completions`, model: "tiny" },
};
for (const m of ["native", "jsread", "text", "textpipe", "jspipe", "jspipe2", "jspipe3", "byob2k", "byob8k", "byob32k", "nativefl", "nativesig", "nativeauth", "nativeall"]) targets[`x-${m}`] = { url: `${t.expUrl}/${m}/${UP}/v1/chat/completions`, model: "tiny" };
for (const [name, r] of Object.entries(t.routers)) targets[name] = { url: `${r.url}/v1/chat/completions`, model: `${UP}/tiny` };
// --variants "name=router:flag,flag;name2=router:" : the same router with x-prof flags (a profiling build only).
for (const v of (arg("--variants", "") || "").split(";").filter(Boolean)) {
  const [name, rest] = v.split("=");
  const [router, flags = ""] = rest.split(":");
  targets[name] = { url: `${t.routers[router].url}/v1/chat/completions`, model: `${UP}/tiny`, prof: flags };
}
const names = Object.keys(targets).filter((n) => !ONLY || ONLY.split(",").includes(n) || targets[n].prof !== undefined);
for (const n of names) targets[n].agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

const body = (model) => JSON.stringify({ model, stream: MODE === "stream", max_tokens: TOKENS, ignore_eos: true, messages: [{ role: "user", content: "Write something." }] });
const hasContent = (s) => s.includes('"content":"') && !s.includes('"content":""');

function viaHttp(target) {
  return new Promise((ok) => {
    const payload = body(target.model);
    const t0 = performance.now();
    const r = { headers: NaN, first: NaN, ttft: NaN, end: NaN, reads: 0, bytes: 0, status: 0 };
    let text = "";
    const req = http.request(target.url, { method: "POST", agent: target.agent, headers: { "content-type": "application/json", authorization: `Bearer ${t.key}`, "content-length": Buffer.byteLength(payload), ...(target.prof !== undefined && { "x-prof": target.prof }) } }, (res) => {
      r.headers = performance.now() - t0;
      r.status = res.statusCode;
      res.on("data", (d) => {
        const at = performance.now() - t0;
        if (!r.reads) r.first = at;
        r.reads++;
        r.bytes += d.length;
        if (MODE === "stream" && Number.isNaN(r.ttft)) {
          text += d.toString("utf8");
          if (hasContent(text)) r.ttft = at;
        }
      });
      res.on("end", () => {
        r.end = performance.now() - t0;
        ok(r);
      });
    });
    req.on("error", (e) => ok({ ...r, error: e.message }));
    req.end(payload);
  });
}

async function viaFetch(target) {
  const payload = body(target.model);
  const t0 = performance.now();
  const r = { headers: NaN, first: NaN, ttft: NaN, end: NaN, reads: 0, bytes: 0, status: 0 };
  try {
    const res = await fetch(target.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${t.key}` }, body: payload });
    r.headers = performance.now() - t0;
    r.status = res.status;
    const dec = new TextDecoder();
    let text = "";
    for await (const d of res.body) {
      const at = performance.now() - t0;
      if (!r.reads) r.first = at;
      r.reads++;
      r.bytes += d.length;
      if (MODE === "stream" && Number.isNaN(r.ttft)) {
        text += dec.decode(d, { stream: true });
        if (hasContent(text)) r.ttft = at;
      }
    }
    r.end = performance.now() - t0;
  } catch (e) {
    r.error = e.message;
  }
  return r;
}

const once = CLIENT === "fetch" ? viaFetch : viaHttp;
for (let i = 0; i < WARM; i++) for (const n of names) await once(targets[n]);
const samples = Object.fromEntries(names.map((n) => [n, []]));
for (let i = 0; i < N; i++) {
  for (let k = 0; k < names.length; k++) {
    const n = names[(i + k) % names.length];
    samples[n].push(await once(targets[n]));
  }
}
const pct = (v, p) => {
  const s = v.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
};
const fields = MODE === "stream" ? ["headers", "ttft", "end"] : ["headers", "first", "end"];
const p50 = (n, f) => pct(samples[n].map((s) => s[f]), 50);
console.log(`mode=${MODE} up=${UP} client=${CLIENT} n=${N} (per target, interleaved)`);
console.log(["target", ...fields.flatMap((f) => [`${f} p50`, `${f} p90`]), `${fields.at(-2)} Δnative`, "end Δnative", "reads p50", "bytes", "errors"].join("\t"));
for (const n of names) {
  const s = samples[n];
  const errors = s.filter((x) => x.error || x.status !== 200).length;
  const cols = fields.flatMap((f) => [p50(n, f), pct(s.map((x) => x[f]), 90)]);
  const d = (f) => (samples.native ? p50(n, f) - p50("native", f) : NaN);
  console.log([n.padEnd(12), ...cols.map((x) => x.toFixed(2)), d(fields.at(-2)).toFixed(2), d("end").toFixed(2), pct(s.map((x) => x.reads), 50), pct(s.map((x) => x.bytes), 50), errors].join("\t"));
}
if (RAW) writeFileSync(RAW, JSON.stringify(samples));
