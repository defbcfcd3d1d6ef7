// The fleet bench's traffic (docs/benchmark.md, "Fleet routing"): agent-like sessions, generated from a seed so that
// the same seed gives the same traffic. A block's plan (sessions, turns, lengths, think times, which sessions send a
// session header, which share the main system prompt, which end with a compaction or start a title request) depends
// only on the seed and the round; the text is rendered with a per-block salt at the start of every system prompt,
// so no host can reuse a prefix from another block while every policy of a round replays the same traffic.

/** mulberry32: small, fast, deterministic; floats in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  next.pick = (list) => list[Math.floor(next() * list.length)];
  return next;
}

/**
 * Characters per token of this text for the generated models' tokenizer (scripts/make-tiny-gguf.mjs: single
 * letters, a few bigrams and short words), measured with llama-server's /tokenize; the calibration prints the real
 * prompt sizes.
 */
const CHARS_PER_TOKEN = 1.24;

const NOUNS = ["file", "function", "test", "module", "type", "error", "config", "request", "response", "host", "model", "slot", "cache", "prompt", "token", "stream", "router", "session", "agent", "tool", "result", "line", "path", "build", "check", "value", "import", "change", "diff", "commit", "branch", "schema", "header", "table", "query", "index", "buffer", "handler", "option", "log"];
const VERBS = ["read", "write", "fix", "run", "check", "update", "remove", "add", "rename", "keep", "use", "return", "parse", "test", "build", "log", "call", "send", "stop", "start", "move", "split", "merge", "list", "open"];
const ADJECTIVES = ["small", "failing", "new", "old", "first", "last", "empty", "long", "short", "shared", "local", "remote", "slow", "unused", "exported", "private", "broken", "current", "next", "same"];
const LINKS = ["and", "then", "before", "after", "when", "if", "so that", "unless", "because", "while"];

function path(r) {
  return `src/${r.pick(NOUNS)}/${r.pick(NOUNS)}${r.pick(["", "s", "-util", "-io"])}.ts`;
}

function sentence(r) {
  const clause = () => {
    switch (r.int(0, 4)) {
      case 0: return `${r.pick(VERBS)} the ${r.pick(ADJECTIVES)} ${r.pick(NOUNS)} in ${path(r)}`;
      case 1: return `the ${r.pick(NOUNS)} ${r.pick(["is", "was", "should be", "must stay"])} ${r.pick(ADJECTIVES)}`;
      case 2: return `${r.pick(VERBS)} ${r.pick(NOUNS)}${r.pick(["", "s"])} with ${r.pick(NOUNS)}_${r.int(1, 99)}()`;
      case 3: return `line ${r.int(1, 900)} of ${path(r)} ${r.pick(["fails", "passes", "returns", "throws"])} ${r.pick(["undefined", "null", "an error", "the old value"])}`;
      default: return `${r.pick(VERBS)} the ${r.pick(NOUNS)}`;
    }
  };
  const s = r() < 0.5 ? clause() : `${clause()} ${r.pick(LINKS)} ${clause()}`;
  return `${s[0].toUpperCase()}${s.slice(1)}.`;
}

/** About `tokens` tokens of agent-like text (sentences, the last one cut at a word to fit). */
export function text(r, tokens) {
  const chars = Math.round(tokens * CHARS_PER_TOKEN);
  let out = "";
  while (out.length < chars) out += (out ? " " : "") + sentence(r);
  if (out.length > chars) {
    const cut = out.lastIndexOf(" ", chars);
    out = `${out.slice(0, cut > 0 ? cut : chars).replace(/[.,]$/, "")}.`;
  }
  return out;
}

/** An agent's system prompt: rules, then tool descriptions, about `tokens` tokens. */
function systemText(r, name, tokens) {
  const parts = [`You are ${name}, a coding agent working in a repository.`, "# Rules"];
  let size = parts.join("\n").length;
  const budget = Math.round(tokens * CHARS_PER_TOKEN);
  for (let tool = 1; size < budget; tool++) {
    const part = tool % 4 === 0 ? `## Tool ${r.pick(VERBS)}_${r.pick(NOUNS)}_${tool}\n${text(r, 60)}` : `- ${text(r, 40)}`;
    parts.push(part);
    size += part.length + 1;
  }
  return parts.join("\n");
}

const TITLE_SYSTEM = "You write titles. Give the conversation below a title of at most six words. Answer with the title only, no quotes.";
const COMPACTION_ASK = "Summarise the conversation so far for a new session: the task, the files touched, what is done and what is left. Keep names and paths exact.";

/** k distinct indices of 0..n-1, chosen with r. */
function chooseIndices(r, n, k) {
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return new Set(all.slice(0, k));
}

/**
 * The texts shared by every block of a run (system prompts), from the run's seed. `plan`: see PLANS in fleet.mjs.
 */
export function sharedTexts(seed, plan) {
  const r = rng(seed * 7919 + 1);
  return {
    main: systemText(r, "Builder", plan.systemTokens),
    alt: systemText(r, "Reviewer", plan.altSystemTokens),
  };
}

/**
 * One block's traffic for round `round`: `plan.agents` agents, each running `plan.sessionsPerAgent` sessions one
 * after another. Exact shares (not coin flips) of sessions that send a session header, use the second system
 * prompt, ask for a title after their first turn, and end with a compaction request.
 */
export function blockTraffic(seed, round, plan) {
  const r = rng(seed * 1_000_003 + round * 101 + 17);
  const n = plan.agents * plan.sessionsPerAgent;
  const withHeader = chooseIndices(r, n, Math.round(n * plan.headerShare));
  const alt = chooseIndices(r, n, Math.round(n * plan.altShare));
  const titled = chooseIndices(r, n, Math.round(n * plan.titleShare));
  const compacted = chooseIndices(r, n, Math.round(n * plan.compactionShare));
  const sessions = [];
  for (let i = 0; i < n; i++) {
    const turns = [];
    const count = r.int(...plan.turns);
    for (let t = 0; t < count; t++) {
      turns.push({
        user: text(r, t === 0 ? r.int(...plan.firstUserTokens) : r.int(...plan.userTokens)),
        assistant: text(r, r.int(...plan.assistantTokens)),
        maxTokens: r.int(...plan.maxTokens),
        thinkMs: r.int(...plan.thinkMs),
      });
    }
    sessions.push({ index: i, header: withHeader.has(i), system: alt.has(i) ? "alt" : "main", title: titled.has(i), compaction: compacted.has(i), turns, gapMs: r.int(...plan.gapMs) });
  }
  const agents = Array.from({ length: plan.agents }, (_, a) => ({
    startMs: a * plan.startStaggerMs + r.int(0, Math.round(plan.startStaggerMs / 2)),
    sessions: sessions.filter((s) => s.index % plan.agents === a),
  }));
  // Where in the block (as a share of its conversation turns) host B is killed in the fault phase, and for how long.
  const fault = { atShare: 0.3 + 0.4 * r(), downMs: r.int(...plan.downMs) };
  return { agents, sessions, turns: sessions.reduce((s, x) => s + x.turns.length, 0), fault };
}

/** The salted system prompt of a session kind. The salt comes first, so nothing of it is shared across blocks. */
export function systemPrompt(texts, kind, salt) {
  return `[workspace ${salt}]\n${texts[kind]}`;
}

export function titleMessages(firstUser, salt) {
  return [{ role: "system", content: `[workspace ${salt}]\n${TITLE_SYSTEM}` }, { role: "user", content: firstUser }];
}

export function compactionMessages(history) {
  return [...history, { role: "user", content: COMPACTION_ASK }];
}

/** A short request for the other model on host C, nothing to do with the replay's prompts. */
export function otherModelMessages(salt, k) {
  return [{ role: "user", content: `[${salt} ${k}] Write one line about the weather.` }];
}
