#!/usr/bin/env node
// Writes a tiny random-weights llama model as a GGUF v3 file that the real llama-server loads, for tests.
// Output is gibberish by design: the router is what is tested, not the model.
//
//   node scripts/make-tiny-gguf.mjs OUT.gguf [--embd 64] [--layers 2] [--ctx 65536] [--seed 1]
//
// Defaults give a ~0.5 MB model that generates thousands of tokens/s on one core; `--embd 768 --layers 8` a slow
// one (~90 tokens/s) for cancellation tests. Same arguments, same bytes (seeded PRNG).
// Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
import { closeSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const GGUF_VERSION = 3;
const ALIGNMENT = 32;
const GGML_TYPE_F32 = 0;
const T = { U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9 };
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, BYTE: 6 };
const UNK_ID = 0;
const BOS_ID = 1;
const EOS_ID = 2;

/**
 * Renders string content, and the text parts of list content (OpenAI/Anthropic style), and nothing for null content
 * (assistant tool-call turns), so agent clients' requests never fail in the template.
 */
const CHAT_TEMPLATE =
  "{%- for m in messages -%}" +
  "<|{{ m['role'] }}|>" +
  "{%- if m['content'] is string -%}{{ m['content'] }}" +
  "{%- elif m['content'] is iterable and m['content'] is not mapping -%}" +
  "{%- for p in m['content'] -%}{%- if p is mapping and p['type'] == 'text' -%}{{ p['text'] }}{%- endif -%}{%- endfor -%}" +
  "{%- endif -%}{{ '\\n' }}" + // an expression: a literal newline after a tag is eaten by trim_blocks
  '{%- endfor -%}' +
  "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}";

const WORDS = ['the', 'and', 'to', 'of', 'in', 'is', 'it', 'hello', 'world', 'you', 'we', 'for', 'on', 'cat',
  'code', 'test', 'ok', 'yes', 'no', 'model'];
const BIGRAMS = ['th', 'he', 'in', 'er', 'an', 're', 'on', 'at', 'en', 'ed'];
const PUNCTUATION = ['.', ',', '!', '?', "'", '-', ':', '(', ')'];

function parseArgs(argv) {
  const opts = { out: undefined, embd: 64, layers: 2, ctx: 65536, seed: 1, heads: 0, ff: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') usage(0);
    if (a.startsWith('--')) {
      const key = a.slice(2);
      if (!(key in opts) || key === 'out') usage(2, `unknown option ${a}`);
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) usage(2, `${a} needs a non-negative integer`);
      opts[key] = v;
    } else if (opts.out === undefined) opts.out = a;
    else usage(2, `unexpected argument ${a}`);
  }
  if (!opts.out) usage(2, 'missing OUT.gguf');
  if (!opts.heads) opts.heads = Math.max(1, Math.floor(opts.embd / (opts.embd >= 256 ? 64 : 16)));
  if (!opts.ff) opts.ff = 2 * opts.embd;
  if (opts.embd < 8 || opts.embd % opts.heads || (opts.embd / opts.heads) % 2) {
    usage(2, `--embd ${opts.embd} must be divisible by --heads ${opts.heads} into an even head size`);
  }
  if (opts.layers < 1 || opts.ctx < 16) usage(2, '--layers must be >= 1 and --ctx >= 16');
  return opts;
}

function usage(code, message) {
  if (message) console.error(`make-tiny-gguf: ${message}`);
  console.error('usage: node scripts/make-tiny-gguf.mjs OUT.gguf [--embd 64] [--layers 2] [--ctx 65536] [--seed 1]' +
    ' [--heads N] [--ff N]');
  process.exit(code);
}

/** SentencePiece-style vocabulary: 3 specials, 256 byte-fallback tokens, then short printable pieces. */
function buildVocab() {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.BYTE);
  }
  const pieces = new Set(['▁']);
  for (let c = 97; c <= 122; c++) pieces.add(String.fromCharCode(c));
  for (let d = 0; d <= 9; d++) pieces.add(String(d));
  for (const p of PUNCTUATION) pieces.add(p);
  for (const w of WORDS) for (let k = 1; k <= w.length; k++) pieces.add(`▁${w.slice(0, k)}`);
  for (const b of BIGRAMS) pieces.add(b);
  for (const p of pieces) {
    tokens.push(p);
    types.push(TOKEN_TYPE.NORMAL);
  }
  // SentencePiece merges the adjacent pair whose merged piece scores highest: prefer longer pieces.
  const scores = tokens.map((t, i) => (types[i] === TOKEN_TYPE.NORMAL ? [...t].length - i / 10000 : 0));
  return { tokens, types, scores };
}

/** mulberry32: small, fast, deterministic; uniform floats in [-1, 1). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 2147483648) - 1;
  };
}

/**
 * Tensors in ggml order (dims[0] is the row length). Residual dimension 0 is held constant (every token embeds
 * the same value there and no block writes to it), which lets the output layer add a fixed per-token bias through
 * that dimension: printable pieces are preferred over raw bytes, so answers are mostly readable, and <unk>/<s> are
 * never produced. </s> sits just below the printable pieces: never sampled unprompted (generation runs to max_tokens
 * or the context's end), while `--logit-bias 2+4` (or request `logit_bias: {"2": 4}`) ends answers within a few tokens.
 */
function tensorSpecs(o, vocab) {
  const { embd: n, ff, layers, heads } = o;
  const headDim = n / heads;
  const nKv = headDim * heads;
  const nVocab = vocab.tokens.length;
  const c0 = 0.5 * Math.sqrt(n);
  const h0 = c0 / 0.8; // approximate value of dimension 0 after the final RMS norm
  const outScale = 3 / Math.sqrt(n);
  const tokenBias = vocab.tokens.map((t, i) => {
    if (i === UNK_ID || i === BOS_ID) return -30;
    if (i === EOS_ID) return 0.5;
    if (vocab.types[i] === TOKEN_TYPE.BYTE) {
      const b = i - 3;
      return b >= 0x20 && b < 0x7f ? -1 : -6;
    }
    return 1.5;
  });
  const uniform = (scale) => (rnd, _r, _c) => rnd() * scale;
  const ones = () => 1;
  const noRow0 = (scale) => (rnd, r) => (r === 0 ? 0 : rnd() * scale);
  const specs = [
    ['token_embd.weight', [n, nVocab], (rnd, _r, c) => (c === 0 ? c0 : rnd())],
    ['output_norm.weight', [n], ones],
    // The specials' logits are the bias alone, without noise, so </s> sits at a steady distance below the
    // printable pieces: outside top-k (40) at every step unless a logit bias lifts it.
    ['output.weight', [n, nVocab], (rnd, r, c) => (c === 0 ? tokenBias[r] / h0 : r <= EOS_ID ? 0 : rnd() * outScale)],
  ];
  for (let i = 0; i < layers; i++) {
    const b = `blk.${i}.`;
    specs.push(
      [`${b}attn_norm.weight`, [n], ones],
      [`${b}attn_q.weight`, [n, n], uniform(1 / Math.sqrt(n))],
      [`${b}attn_k.weight`, [n, nKv], uniform(1 / Math.sqrt(n))],
      [`${b}attn_v.weight`, [n, nKv], uniform(1 / Math.sqrt(n))],
      [`${b}attn_output.weight`, [n, n], noRow0(1 / Math.sqrt(n))],
      [`${b}ffn_norm.weight`, [n], ones],
      [`${b}ffn_gate.weight`, [n, ff], uniform(1 / Math.sqrt(n))],
      [`${b}ffn_up.weight`, [n, ff], uniform(1 / Math.sqrt(n))],
      [`${b}ffn_down.weight`, [ff, n], noRow0(1 / Math.sqrt(ff))],
    );
  }
  return specs.map(([name, dims, init]) => ({ name, dims, init, count: dims.reduce((a, d) => a * d, 1) }));
}

/** Little-endian GGUF serialiser for the header (metadata and tensor infos). */
class Writer {
  #chunks = [];
  #len = 0;
  get length() { return this.#len; }
  #push(buf) { this.#chunks.push(buf); this.#len += buf.length; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.#push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.#push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.#push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.#push(b); }
  bool(v) { this.#push(Buffer.from([v ? 1 : 0])); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.#push(b); }
  raw(buf) { this.#push(buf); }
  kv(key, type, value) {
    this.str(key);
    this.u32(type);
    this.#value(type, value);
  }
  array(key, elemType, values) {
    this.str(key);
    this.u32(T.ARRAY);
    this.u32(elemType);
    this.u64(values.length);
    for (const v of values) this.#value(elemType, v);
  }
  #value(type, v) {
    if (type === T.U32) this.u32(v);
    else if (type === T.I32) this.i32(v);
    else if (type === T.F32) this.f32(v);
    else if (type === T.BOOL) this.bool(v);
    else if (type === T.STRING) this.str(v);
    else throw new Error(`unsupported GGUF type ${type}`);
  }
  toBuffer() { return Buffer.concat(this.#chunks); }
}

const align = (n) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

function buildHeader(o, vocab, specs) {
  const w = new Writer();
  const kvs = [
    ['general.architecture', T.STRING, 'llama'],
    ['general.name', T.STRING, `tiny-random-llama-e${o.embd}-l${o.layers}-s${o.seed}`],
    ['general.alignment', T.U32, ALIGNMENT],
    ['general.file_type', T.U32, 0],
    ['llama.context_length', T.U32, o.ctx],
    ['llama.embedding_length', T.U32, o.embd],
    ['llama.block_count', T.U32, o.layers],
    ['llama.feed_forward_length', T.U32, o.ff],
    ['llama.attention.head_count', T.U32, o.heads],
    ['llama.attention.head_count_kv', T.U32, o.heads],
    ['llama.rope.dimension_count', T.U32, o.embd / o.heads],
    ['llama.rope.freq_base', T.F32, 10000],
    ['llama.attention.layer_norm_rms_epsilon', T.F32, 1e-5],
    ['llama.vocab_size', T.U32, vocab.tokens.length],
    ['tokenizer.ggml.model', T.STRING, 'llama'],
    ['tokenizer.ggml.bos_token_id', T.U32, BOS_ID],
    ['tokenizer.ggml.eos_token_id', T.U32, EOS_ID],
    ['tokenizer.ggml.unknown_token_id', T.U32, UNK_ID],
    ['tokenizer.ggml.add_bos_token', T.BOOL, true],
    ['tokenizer.ggml.add_eos_token', T.BOOL, false],
    ['tokenizer.chat_template', T.STRING, CHAT_TEMPLATE],
  ];
  const arrays = [
    ['tokenizer.ggml.tokens', T.STRING, vocab.tokens],
    ['tokenizer.ggml.scores', T.F32, vocab.scores],
    ['tokenizer.ggml.token_type', T.I32, vocab.types],
  ];
  w.raw(Buffer.from('GGUF', 'ascii'));
  w.u32(GGUF_VERSION);
  w.u64(specs.length);
  w.u64(kvs.length + arrays.length);
  for (const [k, t, v] of kvs) w.kv(k, t, v);
  for (const [k, t, v] of arrays) w.array(k, t, v);
  let offset = 0;
  for (const s of specs) {
    s.offset = offset;
    w.str(s.name);
    w.u32(s.dims.length);
    for (const d of s.dims) w.u64(d);
    w.u32(GGML_TYPE_F32);
    w.u64(offset);
    offset = align(offset + s.count * 4);
  }
  w.raw(Buffer.alloc(align(w.length) - w.length));
  return w.toBuffer();
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const vocab = buildVocab();
  const specs = tensorSpecs(o, vocab);
  const header = buildHeader(o, vocab, specs);
  const out = resolve(o.out);
  mkdirSync(dirname(out), { recursive: true });
  // Write beside the target and rename, so a reader never sees a half-written model.
  const tmp = `${out}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, header);
    const rnd = prng(o.seed);
    let written = 0;
    for (const s of specs) {
      const [cols] = s.dims;
      const data = new Float32Array(s.count);
      for (let i = 0; i < s.count; i++) data[i] = s.init(rnd, Math.floor(i / cols), i % cols);
      const buf = Buffer.from(data.buffer);
      writeSync(fd, buf);
      written += buf.length;
      const pad = align(written) - written;
      if (pad) writeSync(fd, Buffer.alloc(pad));
      written += pad;
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, out);
  const params = specs.reduce((a, s) => a + s.count, 0);
  console.error(`make-tiny-gguf: wrote ${out} (${params} params, n_vocab ${vocab.tokens.length}, ` +
    `n_embd ${o.embd}, ${o.layers} layers, ${o.heads} heads, ctx ${o.ctx})`);
}

main();
