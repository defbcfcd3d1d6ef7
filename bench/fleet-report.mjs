// The fleet bench's figures, table and chart (docs/benchmark.md, "Fleet routing" says how to read them).
import { renderBarPanels } from "./bar-chart.mjs";
import { median, pct } from "./report.mjs";

export const POLICIES = ["ordered", "round-robin", "least-busy", "rendezvous", "fleet"];
export const PHASES = ["steady", "fault"];
const PHASE_LABEL = { steady: "steady", fault: "fault (B killed)" };
const HOSTS = ["a", "b", "c"];

/** Targets (docs/benchmark.md, "Fleet routing"). */
export const FLEET_TARGETS = { calibrationRatio: 20, cacheRatio: { steady: 0.85, fault: 0.75 } };

/** Per phase and policy, over all its blocks. */
export function summarise(blocks) {
  const out = {};
  for (const phase of PHASES) {
    out[phase] = {};
    for (const policy of POLICIES) {
      const mine = blocks.filter((b) => b.phase === phase && b.policy === policy);
      if (!mine.length) continue;
      const records = mine.flatMap((b) => b.records);
      const ok = records.filter((r) => r.ok);
      const turns = records.filter((r) => r.kind === "turn");
      const background = records.filter((r) => r.kind !== "turn");
      const finals = ok.map((r) => r.attempts.at(-1));
      const cacheN = finals.reduce((s, a) => s + (Number.isFinite(a.cacheN) ? a.cacheN : 0), 0);
      const promptN = finals.reduce((s, a) => s + (Number.isFinite(a.promptN) ? a.promptN : 0), 0);
      const wallMs = mine.reduce((s, b) => s + b.wallMs, 0);
      const share = Object.fromEntries(HOSTS.map((h) => [h, finals.filter((a) => a.host === h).length]));
      const failures = records.flatMap((r) => r.attempts.filter((a) => !a.ok).map((a) => `${a.host ?? a.chosen ?? "?"}: ${a.failure}${a.midStream ? " (mid-stream)" : ""}`));
      const others = mine.flatMap((b) => b.others);
      const ages = mine.flatMap((b) => b.pollStats.ageAtSend);
      out[phase][policy] = {
        blocks: mine.length,
        requests: records.length,
        turns: turns.length,
        turnsDone: turns.filter((r) => r.ok).length,
        turnsRetried: turns.filter((r) => r.retried).length,
        turnsLost: turns.filter((r) => !r.ok).length,
        turnsMidStream: turns.filter((r) => r.attempts.some((a) => a.midStream)).length,
        background: background.length,
        backgroundRetried: background.filter((r) => r.retried).length,
        backgroundLost: background.filter((r) => !r.ok).length,
        ttftP50: median(ok.map((r) => r.ttftMs)),
        ttftP95: pct(ok.map((r) => r.ttftMs), 95),
        turnTtftP50: median(ok.filter((r) => r.kind === "turn").map((r) => r.ttftMs)),
        turnTtftP95: pct(ok.filter((r) => r.kind === "turn").map((r) => r.ttftMs), 95),
        wallSeconds: wallMs / 1000,
        turnsPerMin: (turns.filter((r) => r.ok).length * 60_000) / wallMs,
        cacheN,
        promptN,
        cacheRatio: cacheN / (cacheN + promptN),
        waitedOnLoad: records.filter((r) => r.waitedOnLoad).length,
        toUnloadedC: records.filter((r) => r.toUnloadedC).length,
        share,
        otherModel: { sent: others.length, failed: others.filter((o) => !o.ok).length },
        snapshotAgeP50: median(ages),
        snapshotAgeP95: pct(ages, 95),
        pollIntervalP50: Object.fromEntries(Object.keys(mine[0].pollStats.intervalP50).map((k) => [k, median(mine.map((b) => b.pollStats.intervalP50[k]))])),
        pollIntervalMax: Object.fromEntries(Object.keys(mine[0].pollStats.intervalMax).map((k) => [k, Math.max(...mine.map((b) => b.pollStats.intervalMax[k]))])),
        failureExamples: [...new Set(failures)].slice(0, 4),
        faults: mine.filter((b) => b.fault).map((b) => ({ round: b.round, killedAfterS: (b.fault.killedAt - b.t0) / 1000, downMs: b.fault.downMs })),
      };
    }
  }
  return out;
}

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const n0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–");
const MET = "met";
const MISSED = "**missed**";

export function renderMarkdown(meta, calibration, s, svgName) {
  const targets = [];
  const target = (figure, result, goal, met) => targets.push({ figure, result, target: goal, met });

  target(
    "calibration: miss/hit TTFT for the replay's prompts",
    `${f(calibration.ratio, 1)}× (miss ${n0(calibration.missMs)} ms, hit ${n0(calibration.hitMs)} ms; smallest pair ${f(calibration.minPairRatio, 1)}×)`,
    `≥ ${FLEET_TARGETS.calibrationRatio}×`,
    // A quick run's prompts are shorter on purpose (it only proves the bench works): the target is the full run's.
    meta.mode === "quick" ? undefined : calibration.ratio >= FLEET_TARGETS.calibrationRatio,
  );
  for (const phase of PHASES) {
    const p = s[phase];
    const fleet = p?.fleet;
    if (!fleet) continue;
    const others = POLICIES.filter((x) => x !== "fleet" && p[x]);
    const bestP95 = others.reduce((best, x) => (p[x].ttftP95 < p[best].ttftP95 ? x : best), others[0]);
    const bestRate = others.reduce((best, x) => (p[x].turnsPerMin > p[best].turnsPerMin ? x : best), others[0]);
    target(`${phase}: fleet TTFT p95 below every other policy`, `${n0(fleet.ttftP95)} ms; best other ${bestP95} ${n0(p[bestP95].ttftP95)} ms`, "lowest", fleet.ttftP95 < p[bestP95].ttftP95);
    target(`${phase}: fleet turns/min above every other policy`, `${f(fleet.turnsPerMin, 1)}; best other ${bestRate} ${f(p[bestRate].turnsPerMin, 1)}`, "highest", fleet.turnsPerMin > p[bestRate].turnsPerMin);
    target(`${phase}: fleet cache ratio`, f(fleet.cacheRatio, 3), `≥ ${FLEET_TARGETS.cacheRatio[phase]}`, fleet.cacheRatio >= FLEET_TARGETS.cacheRatio[phase]);
    target(`${phase}: fleet turns lost`, `${fleet.turnsLost} (${fleet.turnsRetried} retried)`, "0", fleet.turnsLost === 0);
    target(`${phase}: fleet requests that waited on a load while a loaded member had a free slot`, String(fleet.waitedOnLoad), "0", fleet.waitedOnLoad === 0);
  }

  const rows = [];
  for (const phase of PHASES) {
    for (const policy of POLICIES) {
      const x = s[phase]?.[policy];
      if (!x) continue;
      const total = HOSTS.reduce((t, h) => t + x.share[h], 0) || 1;
      const name = policy === "fleet" ? "**fleet**" : policy;
      rows.push(
        `| ${PHASE_LABEL[phase]} | ${name} | ${n0(x.ttftP50)} | ${n0(x.ttftP95)} | ${f(x.turnsPerMin, 1)} | ${f(x.cacheRatio, 3)} | ${x.waitedOnLoad} | ${x.toUnloadedC} | ${HOSTS.map((h) => f((100 * x.share[h]) / total)).join(" / ")} | ${x.turnsRetried} / ${x.turnsLost} | ${x.turnsDone} of ${x.turns}, +${x.background - x.backgroundLost} of ${x.background} |`,
      );
    }
  }

  const first = s.steady?.fleet ?? Object.values(s.steady ?? {})[0];
  const plan = meta.setup.plan;
  const cal = calibration;
  const failureNotes = PHASES.flatMap((phase) => POLICIES.filter((p) => s[phase]?.[p]?.failureExamples.length).map((p) => `- ${PHASE_LABEL[phase]}, ${p}: ${s[phase][p].failureExamples.map((e) => `\`${e.replace(/`/g, "'").replace(/\|/g, "/")}\``).join("; ")}`));
  const missed = targets.filter((t) => t.met === false);
  const faults = s.fault?.fleet?.faults ?? [];
  const faultNotes = faults.length ? `Fault phase: B was killed ${faults.map((x) => `${f(x.killedAfterS, 1)} s`).join(", ")} into the fleet block(s) (every policy at the same share of the block's turns) and served again ${faults.map((x) => f(x.downMs / 1000, 1)).join(", ")} s later (+ its start-up).` : "";

  const md = [
    `## Fleet routing bench ${meta.mode === "quick" ? "(--quick: too few requests for conclusions, shorter prompts) " : ""}${meta.date.slice(0, 16).replace("T", " ")} UTC, commit ${meta.commit}`,
    "",
    `Machine: ${meta.machine.cpu}, ${meta.machine.cores} cores, ${meta.machine.memoryGiB} GiB, ${meta.machine.os}. Node ${meta.versions.node}, miniflare ${meta.versions.miniflare}, workerd ${meta.versions.workerd}, llama-server ${meta.versions.llamaServer}. ` +
      `Hosts: A ${meta.setup.hosts.a}; B ${meta.setup.hosts.b}; C ${meta.setup.hosts.c}; model ${meta.setup.model}. Router: \`npm start\`, client key on. ` +
      `Traffic (seed ${meta.seed}): per block ${plan.agents} agents, each running ${plan.sessionsPerAgent} session${plan.sessionsPerAgent > 1 ? "s" : ""} of ${plan.turns[0]}–${plan.turns[1]} turns, ${Math.round(plan.headerShare * 100)}% with \`x-session-id\`, ${Math.round((1 - plan.altShare) * 100)}% sharing one system prompt of ~${n0(plan.systemTokens)} tokens, titles and compactions mixed in; ` +
      `${plan.rounds} round(s) × ${POLICIES.length} policies × 2 phases, rotated order. Wall time ${meta.wallSeconds} s.`,
    "",
    `Calibration (B alone, through the router): a miss of the replay's prompts (turns ${cal.pairs.map((p) => p.turn).join(", ")}, ${cal.pairs.map((p) => n0(p.miss.promptN)).join(" / ")} prompt tokens) takes ${n0(cal.missMs)} ms to the first token, a hit (${cal.pairs.map((p) => n0(p.hit.promptN)).join(" / ")} new tokens) ${n0(cal.hitMs)} ms: **${f(cal.ratio, 1)}×** (target ≥ ${FLEET_TARGETS.calibrationRatio}×: ${meta.mode === "quick" ? "not judged on a quick run's shorter prompts" : cal.ratio >= FLEET_TARGETS.calibrationRatio ? "met" : "**missed**"}).`,
    "",
    "| phase | policy | TTFT p50 (ms) | TTFT p95 (ms) | turns/min | cache ratio | waited on a load, a loaded member free | sent to C while coder unloaded | requests on A / B / C (%) | turns retried / lost | turns done, + background |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ...rows,
    "",
    `![TTFT p95, turns/min, cache ratio and load waits per policy](${svgName})`,
    "",
    "| target | result | goal | |",
    "|---|---|---|---|",
    ...targets.map((t) => `| ${t.figure} | ${t.result} | ${t.target} | ${t.met === undefined ? "n/a (quick)" : t.met ? MET : MISSED} |`),
    "",
    missed.length ? `Targets missed: ${missed.map((t) => t.figure).join("; ")}.` : "Every target met.",
    ...(faultNotes ? ["", faultNotes] : []),
    ...(failureNotes.length ? ["", "Failed attempts (before the retry, or lost):", ...failureNotes] : []),
    "",
    `Host snapshots (/slots of A, B, C and C's /v1/models, polled every ~100 ms): interval p50 ${["a", "b", "c", "cModels"].map((k) => `${k === "cModels" ? "C models" : k.toUpperCase()} ${n0(first?.pollIntervalP50[k])}`).join(", ")} ms, longest ${["a", "b", "c", "cModels"].map((k) => n0(first?.pollIntervalMax[k])).join(" / ")} ms (a host answers /slots between prompt batches); a snapshot was ${n0(first?.snapshotAgeP50)} ms old (p95 ${n0(first?.snapshotAgeP95)}) when a request was sent.`,
    "",
    "TTFT: request start to the first content delta, over every request a policy routed (turns, titles, compactions); a retried request counts from its first attempt. " +
      "turns/min: conversation turns completed / block wall time. Cache ratio: Σ timings.cache_n / Σ (cache_n + prompt_n) over the answers' final chunks. " +
      "Waited on a load: went to C while C's coder was not loaded, and A or B had a free slot, in the latest snapshots before it was sent. " +
      "Retried: the first attempt failed (HTTP error, broken stream) and the client tried once more; lost: the retry failed too. See docs/benchmark.md, \"Fleet routing\".",
  ].join("\n");
  return { md, targets };
}

/** Four panels (TTFT p95, turns/min, cache ratio, load waits) in a 2×2 grid, a bar per policy and phase; plain SVG. */
export function renderSvg(s, meta) {
  const panel = (title, value, fmt, max) => ({
    title,
    fmt,
    max,
    groups: POLICIES.map((policy) => ({
      label: policy,
      bold: policy === "fleet",
      values: Object.fromEntries(PHASES.filter((phase) => s[phase]?.[policy]).map((phase) => [phase, value(s[phase][policy])])),
    })),
  });
  return renderBarPanels({
    title: `Fleet routing: 5 policies on 3 llama-server hosts (A 1 slot, B 2 slots, C router mode)${meta.mode === "quick" ? ", quick run" : ""}`,
    series: [
      { key: "steady", label: PHASE_LABEL.steady, color: "#3b6ea8" },
      { key: "fault", label: PHASE_LABEL.fault, color: "#d9822b" },
    ],
    panels: [
      panel("TTFT p95 (s), lower is better", (x) => x.ttftP95 / 1000, (v) => v.toFixed(1)),
      panel("turns per minute, higher is better", (x) => x.turnsPerMin, (v) => v.toFixed(1)),
      panel("cache ratio over the fleet (cache_n / prompt tokens), higher is better", (x) => x.cacheRatio, (v) => v.toFixed(2), 1),
      panel("waited on a load while a loaded member was free (goal: 0)", (x) => x.waitedOnLoad, (v) => String(v)),
    ],
    footer: `${meta.date.slice(0, 16).replace("T", " ")} UTC, commit ${meta.commit}, seed ${meta.seed}, ${meta.setup.plan.rounds} round(s) per phase; method: docs/benchmark.md, "Fleet routing"`,
  });
}
