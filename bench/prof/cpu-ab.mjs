#!/usr/bin/env node
// Profiling harness, part 4: workerd CPU per request (every thread, /proc schedstat) for variants of one profiling
// router (x-prof flags), in batches, rounds rotated. CPU time hardly depends on what else the machine runs.
//   node bench/prof/cpu-ab.mjs --router prof --mode stream|json --batch 50 --rounds 8 --variants "a=;b=pipe;c=pipe,noauth"
import http from "node:http";
import { readFileSync } from "node:fs";
import { cpuNs, descendants } from "../processes.mjs";

const argv = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const ROUTER = arg("--router", "prof");
const MODE = arg("--mode", "stream");
const BATCH = Number(arg("--batch", "50"));
const ROUNDS = Number(arg("--rounds", "8"));
const UP = arg("--up", "synth");
const t = JSON.parse(readFileSync(new URL("../../.cache/prof/targets.json", import.meta.url), "utf8"));
const floorTarget = ROUTER === "floor" || ROUTER === "exp";
const r = ROUTER === "floor" ? { url: t.floorUrl } : ROUTER === "exp" ? { url: t.expUrl } : t.routers[ROUTER];
const variants = arg("--variants", "full=").split(";").filter(Boolean).map((v) => {
  const [name, flags = ""] = v.split("=");
  return { name, flags };
});
// The workerd of this router: the listener's owner.
const port = new URL(r.url).port;
const { execFileSync } = await import("node:child_process");
const ss = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" });
const pid = Number(/pid=(\d+)/.exec(ss)?.[1]);
if (!pid) throw new Error(`no listener on ${port}: ${ss}`);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const once = (v) => new Promise((ok) => {
  const path = floorTarget ? v.flags : "/v1/chat/completions";
  const payload = JSON.stringify({ model: floorTarget ? "tiny" : `${UP}/tiny`, stream: MODE === "stream", max_tokens: 64, ignore_eos: true, messages: [{ role: "user", content: "Write something." }] });
  const t0 = performance.now();
  const req = http.request(`${r.url}${path}`, { method: "POST", agent, headers: { "content-type": "application/json", authorization: `Bearer ${t.key}`, "content-length": Buffer.byteLength(payload), ...(!floorTarget && { "x-prof": v.flags }) } }, (res) => {
    res.on("data", () => {});
    res.on("end", () => ok(performance.now() - t0));
  });
  req.on("error", () => ok(NaN));
  req.end(payload);
});
for (const v of variants) for (let i = 0; i < 10; i++) await once(v);
const cpu = Object.fromEntries(variants.map((v) => [v.name, []]));
const wall = Object.fromEntries(variants.map((v) => [v.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(round + k) % variants.length];
    const c0 = cpuNs(pid);
    for (let i = 0; i < BATCH; i++) wall[v.name].push(await once(v));
    cpu[v.name].push((cpuNs(pid) - c0) / BATCH / 1000);
  }
}
const med = (a) => {
  const s = a.filter(Number.isFinite).sort((x, y) => x - y);
  return s[Math.floor((s.length - 1) / 2)];
};
console.log(`${ROUTER} mode=${MODE} up=${UP}: workerd CPU µs/request (median of ${ROUNDS} batches of ${BATCH}; min–max), wall p50 ms`);
const base = med(cpu[variants[0].name]);
for (const v of variants) {
  const c = cpu[v.name];
  console.log(`${v.name.padEnd(22)} ${med(c).toFixed(0).padStart(6)} µs  (${Math.min(...c).toFixed(0)}–${Math.max(...c).toFixed(0)})  Δ ${(med(c) - base).toFixed(0).padStart(6)} µs   wall p50 ${med(wall[v.name]).toFixed(2)} ms`);
}
