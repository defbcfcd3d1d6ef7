#!/usr/bin/env node
// Measures which way of continuing a broken chat stream on a second llama-server joins exactly.
//
//   node bench/continuation-probe.mjs [--tokens 300] [--timeout 300] [--cache-prompt]
//
// Two hosts serve the same tiny model file (scripts/make-tiny-gguf.mjs, installed with
// scripts/install-llama-server.sh; LLAMA_SERVER_DIR points at an existing install). Host A gives a greedy reference
// answer as a chat stream, carrying token ids (`n_probs: 1` -> `choices[0].logprobs.content[].id`) and token counts
// (`timings_per_token: true` -> `timings.predicted_n`). For cut points in tokens and in characters, host B continues:
//   (a) /v1/chat/completions with the partial answer as a final assistant message (llama-server's assistant prefill);
//   (b) /completion with a token-id prompt: /tokenize(/apply-template(messages), add_special) + the ids of the
//       entries already delivered; text of a cut inside an entry is dropped from B's output (it was already sent).
// It prints a markdown table (join verdict and time to the first continued token per technique) and a few facts.
// Hosts (bench/continuation-probe-hosts.mjs) run with `-t 1` on free loopback ports and are always stopped; the whole
// run is bounded by --timeout. Method and measured results: docs/continuation-probe.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { post, startHost, stopAll, stream } from './continuation-probe-hosts.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORK = join(ROOT, '.cache', 'continuation-probe');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N_TOKENS = arg('tokens', 300);
const TIMEOUT_S = arg('timeout', 300);

const USER = [{ role: 'user', content: 'hello' }];
// Cold prefill on every request, as on a host that never saw the conversation; --cache-prompt keeps llama-server's
// default (reuse of the slot's cache, here the previous cut's prompt).
const CACHE = process.argv.includes('--cache-prompt');
const GREEDY = { temperature: 0, top_k: 1, seed: 1, ignore_eos: true, ...(CACHE ? {} : { cache_prompt: false }) };
// The tiny vocabulary has no multi-byte piece: 'é' exists only as byte tokens <0xC3><0xA9> (ids 3 + byte). The bias
// makes them competitive and the grammar keeps them paired, so the answer holds real two-token characters.
const E_ACUTE = { lead: 3 + 0xc3, cont: 3 + 0xa9 };
const SCENARIOS = [
  { name: 'plain', sampling: {} },
  { name: 'penalty', sampling: { repeat_penalty: 1.3 } },
  // Forbidding a few long pieces makes the model spell their text with shorter ones, which re-tokenising the text
  // merges back: a prefilled text then is not the token sequence host A generated. Ids: ' the', ' hello', ' worl', ' model'.
  { name: 'noncanon', sampling: { repeat_penalty: 1.3, logit_bias: { 307: -100, 322: -100, 326: -100, 354: -100 } } },
  {
    name: 'utf8',
    sampling: {
      repeat_penalty: 1.3,
      logit_bias: { [E_ACUTE.lead]: 7.5, [E_ACUTE.cont]: 7.5 },
      grammar: 'root ::= ([ -~] | "é")*',
    },
  },
];

const deadline = setTimeout(() => {
  console.error(`continuation-probe: not done in ${TIMEOUT_S} s, stopping`);
  stopAll();
  process.exit(1);
}, TIMEOUT_S * 1000);

async function reference(A, sampling) {
  const { events } = await stream(`${A}/v1/chat/completions`, {
    ...GREEDY, ...sampling, messages: USER, max_tokens: N_TOKENS, stream: true, n_probs: 1, timings_per_token: true,
  });
  const entries = [];
  let used = 0;
  for (const ev of events) {
    const text = ev.choices?.[0]?.delta?.content;
    if (!text) continue;
    const ids = (ev.choices[0].logprobs?.content ?? []).map((p) => p.id);
    const n = ev.timings.predicted_n - used;
    used = ev.timings.predicted_n;
    // A chunk that completes a multi-token character reports only its last token's id (predicted_n shows the gap):
    // get the character's ids by tokenising it behind a newline, minus the newline's own tokens, which sidesteps the
    // SentencePiece space prefix that /tokenize puts in front of any text.
    const fixedIds = ids.length === n ? ids : await tokensOf(A, text);
    entries.push({ text, ids, fixedIds, used });
  }
  return entries;
}

async function tokensOf(host, text) {
  const tok = async (content) => (await post(`${host}/tokenize`, { content })).tokens;
  const [lead, both] = await Promise.all([tok('\n'), tok(`\n${text}`)]);
  if (lead.some((id, i) => both[i] !== id)) throw new Error(`cannot isolate the tokens of ${JSON.stringify(text)}`);
  return both.slice(lead.length);
}

function verdict(expected, got) {
  if (got === expected) return { ok: true, text: 'exact', matched: got.length };
  let i = 0;
  while (i < got.length && i < expected.length && got[i] === expected[i]) i++;
  // Same text as far as both go: the join is exact, only the end differs (a different token count).
  if (i === got.length) return { ok: true, text: `exact join, ends ${expected.length - i} chars early`, matched: i };
  if (i === expected.length) return { ok: true, text: `exact join, ${got.length - i} chars past the end`, matched: i };
  return { ok: false, text: i === 0 ? 'differs at once' : `diverges at +${i}`, matched: i };
}

/** Describes a bad join when the continuation equals the reference shifted by a few characters. */
function shift(ref, join, got) {
  const probe = got.slice(0, 24);
  if (probe.length < 8) return '';
  for (let d = 1; d <= 32; d++) {
    if (join - d >= 0 && ref.slice(join - d).startsWith(probe)) return ` (${d} duplicated)`;
    if (ref.slice(join + d).startsWith(probe)) return ` (${d} missing)`;
  }
  return '';
}

async function techniqueA(B, sampling, ref, cut) {
  const { events, firstMs, timings } = await stream(`${B}/v1/chat/completions`, {
    ...GREEDY, ...sampling, stream: true, max_tokens: N_TOKENS - cut.used,
    messages: [...USER, { role: 'assistant', content: ref.slice(0, cut.chars) }],
  });
  const got = events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
  const v = verdict(ref.slice(cut.chars), got);
  return { ...v, text: v.text + (v.ok ? '' : shift(ref, cut.chars, got)), firstMs, timings };
}

async function techniqueB(B, sampling, ref, cut, templateIds, { bos = true, repaired = true } = {}) {
  const ids = [...(bos ? templateIds : templateIds.slice(1)), ...(repaired ? cut.fixedIds : cut.ids)];
  const { events, firstMs, timings } = await stream(`${B}/completion`, {
    ...GREEDY, ...sampling, stream: true, prompt: ids, n_predict: N_TOKENS - cut.idsUsed,
  });
  let got = events.map((e) => e.content ?? '').join('');
  const resent = ref.slice(cut.idsChars, cut.chars); // already delivered from inside a cut entry
  if (!got.startsWith(resent)) {
    const v = verdict(ref.slice(cut.idsChars), got);
    return { ...v, ok: false, text: `re-sent part differs: ${v.text}`, firstMs, timings };
  }
  got = got.slice(resent.length);
  const v = verdict(ref.slice(cut.chars), got);
  return { ...v, text: v.text + (v.ok ? '' : shift(ref, cut.chars, got)), firstMs, timings };
}

/** Cut points: after entry e (a token boundary as the router sees it), or at a character inside an entry. */
function cuts(entries, ref) {
  const after = [];
  let chars = 0;
  let ids = [];
  let fixedIds = [];
  for (const [i, e] of entries.entries()) {
    chars += e.text.length;
    ids = ids.concat(e.ids);
    fixedIds = fixedIds.concat(e.fixedIds);
    after.push({ entry: i, chars, used: e.used, ids, fixedIds, idsUsed: e.used, idsChars: chars });
  }
  const out = [];
  const add = (kind, c) => {
    if (!c) return;
    const same = out.find((o) => o.chars === c.chars && o.kind.split(' ')[0] === kind.split(' ')[0]);
    if (!same) out.push({ ...c, kind });
    else if (kind.includes(', ')) same.kind += kind.slice(kind.indexOf(','));
  };
  for (const k of [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233]) {
    const c = after.find((a) => a.used >= k && a.used < N_TOKENS);
    if (c) add(`token ${c.used}`, c);
  }
  const ws = after.find((a) => a.used > 40 && /\s$/.test(ref.slice(0, a.chars)));
  if (ws) add(`token ${ws.used}, after whitespace`, ws);
  const multi = entries.findIndex((e, i) => i > 0 && e.used - entries[i - 1].used > 1);
  if (multi > 0) {
    add(`token ${after[multi - 1].used}, before a 2-token char`, after[multi - 1]);
    add(`token ${after[multi].used}, after a 2-token char`, after[multi]);
    // A cut inside the character looks to the router exactly like the cut before it (nothing of the character was
    // sent, and no id of it either); the facts below try the true ids up to its first byte.
  }
  for (const c of [7, 50, 111, 200, 301]) {
    const e = after.findIndex((a) => a.chars >= c);
    if (e < 0 || after[e].chars === c) continue;
    const prev = e > 0 ? after[e - 1] : { chars: 0, ids: [], fixedIds: [], used: 0 };
    const kind = /\s/.test(ref[c - 1]) ? `char ${c}, after whitespace` : `char ${c}, inside a token`;
    add(kind, { chars: c, used: prev.used, ids: prev.ids, fixedIds: prev.fixedIds, idsUsed: prev.used, idsChars: prev.chars });
  }
  return out.sort((x, y) => x.chars - y.chars || x.used - y.used);
}

const fmtMs = (ms) => (ms === undefined ? 'n/a' : ms.toFixed(1));

async function main() {
  mkdirSync(WORK, { recursive: true });
  const launcher = execFileSync('bash', [join(ROOT, 'scripts/install-llama-server.sh')], { encoding: 'utf8' })
    .trim().split('\n').pop();
  const model = resolve(WORK, 'tiny.gguf');
  execFileSync(process.execPath, [join(ROOT, 'scripts/make-tiny-gguf.mjs'), model, '--seed', '1'], { stdio: 'ignore' });
  const [A, B, C] = await Promise.all([
    startHost(launcher, model, WORK, 'a'),
    startHost(launcher, model, WORK, 'b'),
    startHost(launcher, model, WORK, 'c-no-prefill', ['--no-prefill-assistant']),
  ]);
  const version = spawnSync(launcher, ['--version'], { encoding: 'utf8' });
  const versionText = `${version.stdout}${version.stderr}`;
  const template = (await post(`${A}/apply-template`, { messages: USER })).prompt;
  const templateIds = (await post(`${A}/tokenize`, { content: template, add_special: true })).tokens;

  const rows = [];
  const facts = [];
  // (b) needs the template's ids before it can send: two extra round trips unless the router keeps them.
  const trips = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const p = (await post(`${B}/apply-template`, { messages: USER })).prompt;
    await post(`${B}/tokenize`, { content: p, add_special: true });
    trips.push(performance.now() - t0);
  }
  facts.push(`(b) /apply-template + /tokenize before the /completion request: median ` +
    `${fmtMs(trips.sort((x, y) => x - y)[2])} ms (5 tries, loopback)`);
  for (const sc of SCENARIOS) {
    const entries = await reference(A, sc.sampling);
    const ref = entries.map((e) => e.text).join('');
    const onB = (await reference(B, sc.sampling)).map((e) => e.text).join('');
    const full = await post(`${A}/completion`, { ...GREEDY, ...sc.sampling, prompt: template, n_predict: N_TOKENS, return_tokens: true });
    const streamedIds = entries.flatMap((e) => e.ids);
    facts.push(`${sc.name}: reference ${N_TOKENS} tokens, ${ref.length} chars, ${entries.length} content chunks; ` +
      `host B gives the same answer: ${onB === ref}; /completion on the template text gives it too: ${full.content === ref}; ` +
      `ids carried by the chat stream: ${streamedIds.length} of ${full.tokens.length}` +
      (streamedIds.length === full.tokens.length ? '' : ' (the first byte token of each multi-token character is not reported)'));
    let canonical = 0;
    let tokenCuts = 0;
    const differing = [];
    for (const cut of cuts(entries, ref)) {
      const a = await techniqueA(B, sc.sampling, ref, cut);
      const raw = await techniqueB(B, sc.sampling, ref, cut, templateIds, { repaired: false });
      const b = await techniqueB(B, sc.sampling, ref, cut, templateIds);
      rows.push({ scenario: sc.name, cut, a, raw, b });
      if (cut.kind.startsWith('token')) {
        // What the prefill path feeds the model: the whole prompt text tokenised again.
        const retok = (await post(`${B}/tokenize`, { content: template + ref.slice(0, cut.chars), add_special: true })).tokens;
        const sent = [...templateIds, ...full.tokens.slice(0, cut.used)];
        tokenCuts++;
        const at = retok.findIndex((id, i) => id !== sent[i]);
        if (at < 0 && retok.length === sent.length) canonical++;
        else {
          const near = (ids) => ids.slice(Math.max(0, at - 1), at + 2).join(',');
          differing.push(`${cut.kind} (ids [${near(sent)}] re-tokenised [${near(retok)}])`);
        }
      }
    }
    facts.push(`${sc.name}: at ${canonical} of ${tokenCuts} token cuts, re-tokenising template + partial text gives ` +
      `exactly the ids host A had (prompt + generated)${differing.length ? `; not at ${differing.join('; ')}` : ''}`);
    if (sc.name === 'penalty') {
      const cut = cuts(entries, ref).find((c) => c.kind === 'token 89');
      const noBos = await techniqueB(B, sc.sampling, ref, cut, templateIds, { bos: false });
      facts.push(`penalty, token 89, (b) without the BOS token (ids from /tokenize without add_special): ${noBos.text}`);
      const echo = await post(`${B}/v1/chat/completions`, {
        ...GREEDY, ...sc.sampling, max_tokens: 20, messages: [...USER, { role: 'assistant', content: ref.slice(0, cut.chars) }],
      });
      const content = echo.choices[0].message.content;
      facts.push(`penalty, token 89, (a) NON-streaming: message.content starts with the prefilled ${cut.chars} chars: ` +
        `${content.startsWith(ref.slice(0, cut.chars))} (content ${content.length} chars for 20 new tokens)`);
      const np = await techniqueA(C, sc.sampling, ref, cut);
      const npPrompt = (await post(`${C}/apply-template`, { messages: [...USER, { role: 'assistant', content: 'PARTIAL' }] })).prompt;
      facts.push(`penalty, token 89, (a) on a host started with --no-prefill-assistant: ${np.text}; its /apply-template ` +
        `renders the partial answer as a closed turn: ${JSON.stringify(npPrompt)}`);
      const withIds = (await post(`${B}/completion`, { ...GREEDY, ...sc.sampling, prompt: [...templateIds, ...full.tokens.slice(0, cut.used)], n_predict: N_TOKENS - cut.used })).content;
      facts.push(`penalty, token 89, (b) with the true ids from /completion return_tokens: ${verdict(ref.slice(cut.chars), withIds).text}`);
    }
    if (sc.name === 'utf8') {
      const multi = entries.findIndex((e, i) => i > 0 && e.used - entries[i - 1].used > 1);
      if (multi > 0) {
        const k = entries[multi - 1].used + 1; // after the lead byte of the character
        const before = entries.slice(0, multi).map((e) => e.text).join('').length;
        const cont = await post(`${B}/completion`, { ...GREEDY, ...sc.sampling, prompt: [...templateIds, ...full.tokens.slice(0, k)], n_predict: N_TOKENS - k });
        const v = verdict(ref.slice(before + entries[multi].text.length), cont.content);
        facts.push(`utf8, true ids up to the lead byte of '${entries[multi].text}' (token ${k}): B's output starts ` +
          `${JSON.stringify(cont.content.slice(0, 12))}, vs the rest after the character: ${v.text} ` +
          '(the grammar restarts at the root on B and rejects a lone continuation byte)');
      }
    }
  }

  console.log(`# Continuation probe (llama-server ${versionText.match(/version: (.*)/)?.[1] ?? '?'})\n`);
  console.log(`Reference: ${N_TOKENS} greedy tokens from host A; each row continues on host B from the cut ` +
    `(prompt cache ${CACHE ? 'on' : 'off'}).`);
  console.log('(a) = chat assistant prefill (text); (b) = /completion with token ids. ttft = ms from the continuation request to its first text.\n');
  console.log('| scenario | cut | chars sent | (a) chat prefill | (a) ttft ms / prefill tok | (b) raw stream ids | (b) repaired ids | (b) ttft ms / prefill tok |');
  console.log('|---|---|---:|---|---:|---|---|---:|');
  const cost = (t) => `${fmtMs(t.firstMs)} / ${t.timings?.prompt_n ?? '?'}`;
  for (const r of rows) {
    console.log(`| ${r.scenario} | ${r.cut.kind} | ${r.cut.chars} | ${r.a.text} | ${cost(r.a)} | ${r.raw.text} | ${r.b.text} | ${cost(r.b)} |`);
  }
  const tally = (t) => `${rows.filter((r) => r[t].ok).length}/${rows.length}`;
  console.log(`\nExact joins: (a) ${tally('a')}, (b) raw ids ${tally('raw')}, (b) repaired ids ${tally('b')}.`);
  const med = (xs) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  for (const t of ['a', 'b']) {
    const ms = rows.map((r) => r[t].firstMs).filter((x) => x !== undefined);
    const pms = rows.map((r) => r[t].timings?.prompt_ms).filter((x) => x !== undefined);
    console.log(`Time to first continued token, (${t}): median ${fmtMs(med(ms))} ms, max ${fmtMs(Math.max(...ms))} ms; ` +
      `host-side prompt processing median ${fmtMs(med(pms))} ms.`);
  }
  console.log('');
  console.log('Facts:');
  for (const f of facts) console.log(`- ${f}`);
}

main()
  .then(() => {
    clearTimeout(deadline);
    stopAll();
  })
  .catch((err) => {
    console.error(err);
    stopAll();
    process.exit(1);
  });
