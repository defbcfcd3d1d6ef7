// Statistics and run metadata shared by the benchmarks (bench/run.mjs, bench/fleet.mjs; docs/benchmark.md).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { ROOT, llamaServerVersion } from "./processes.mjs";

/** The p-th percentile (nearest rank) of the finite values; NaN when there are none. */
export function pct(values, p) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}
export const median = (v) => pct(v, 50);

/** Date, commit (marked when the bench's inputs have uncommitted changes), machine and versions of a run. */
export function environment() {
  const git = (...a) => { try { return execFileSync("git", a, { cwd: ROOT, encoding: "utf8" }).trim(); } catch { return ""; } };
  const version = (pkg) => { try { return JSON.parse(readFileSync(join(ROOT, `node_modules/${pkg}/package.json`), "utf8")).version; } catch { return "?"; } };
  let workerdVersion = "?";
  try { workerdVersion = execFileSync(join(ROOT, "node_modules/.bin/workerd"), ["--version"], { encoding: "utf8" }).trim(); } catch {}
  let osName = os.type();
  try { osName = /PRETTY_NAME="([^"]+)"/.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? osName; } catch {}
  const status = git("status", "--porcelain", "--", "src", "scripts", "bench", "wrangler.toml", "package.json");
  return {
    date: new Date().toISOString(),
    commit: git("rev-parse", "--short", "HEAD") + (status ? " (+ uncommitted changes)" : ""),
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), os: `${osName}, kernel ${os.release()}`, loadAvg: os.loadavg().map((x) => x.toFixed(2)) },
    versions: { node: process.version, wrangler: version("wrangler"), miniflare: version("miniflare"), workerd: `${workerdVersion} (npm ${version("workerd")})`, llamaServer: llamaServerVersion() },
  };
}
