// Experiment Worker for the non-streamed profile: what each way of turning a host STREAM into one JSON costs in
// workerd, without the router's code. /<mode>/<upstream>/<path>; the client sends stream:false.
//   native   new Response(upstream.body), the request passed unchanged (host answers JSON)
//   jsread   host asked for a stream; JS read loop over the chunks, collects them, answers a fixed-length JSON
//   text     host asked for a stream; `await upstream.text()` (read natively), answers a fixed-length JSON
//   textpipe host asked for a stream; headers at once (IdentityTransformStream), text() natively, then ONE write + close
//   jspipe   host asked for a stream; headers at once, JS read loop, then ONE write + close (the router's shape)
//   jspipe2  like jspipe but writes a space first (a heartbeat), then the JSON
//   jspipe3  like jspipe, but the JSON write and the close are not awaited one after the other
//   byobNk   host asked for a stream; BYOB readAtLeast(N KiB) loop; JSON write + close at once
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, mode, up, ...rest] = url.pathname.split("/");
    const origin = env.UPSTREAMS[up];
    if (!origin) return new Response("unknown upstream", { status: 404 });
    if (mode.startsWith("native")) return nativeVariant(mode, request, origin, rest);
    const raw = await request.json();
    const streamed = mode !== "native";
    const body = JSON.stringify(streamed ? { ...raw, stream: true, stream_options: { include_usage: true }, n_probs: 1, timings_per_token: true } : raw);
    const upstream = await fetch(`${origin}/${rest.join("/")}`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: request.signal });
    if (!streamed) return new Response(upstream.body, upstream);
    const assemble = (text) => {
      let content = "";
      let last;
      for (const line of text.split("\n")) {
        if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
        const ev = JSON.parse(line.slice(6));
        last = ev;
        const d = ev.choices?.[0]?.delta?.content;
        if (typeof d === "string") content += d;
      }
      return JSON.stringify({ id: last?.id, object: "chat.completion", model: "x", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "length" }], usage: last?.usage });
    };
    const jsRead = async () => {
      const reader = upstream.body.getReader();
      const dec = new TextDecoder();
      let text = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
      }
      return text;
    };
    const byob = async (min) => {
      const reader = upstream.body.getReader({ mode: "byob" });
      const dec = new TextDecoder();
      let text = "";
      for (;;) {
        const { done, value } = await reader.readAtLeast(min, new Uint8Array(Math.max(min * 2, 65536)));
        if (value) text += dec.decode(value, { stream: true });
        if (done) break;
      }
      return text;
    };
    const headers = { "content-type": "application/json" };
    if (mode === "jsread") return new Response(assemble(await jsRead()), { headers });
    if (mode === "text") return new Response(assemble(await upstream.text()), { headers });
    const { readable, writable } = new IdentityTransformStream();
    const writer = writable.getWriter();
    const enc = new TextEncoder();
    (async () => {
      if (mode === "jspipe2") await writer.write(enc.encode(" "));
      const m = /^byob(\d+)k$/.exec(mode);
      const text = mode === "textpipe" ? await upstream.text() : m ? await byob(Number(m[1]) * 1024) : await jsRead();
      if (mode === "jspipe" || mode === "jspipe2") {
        await writer.write(enc.encode(assemble(text)));
        await writer.close();
      } else {
        const w = writer.write(enc.encode(assemble(text)));
        await Promise.all([w, writer.close()]);
      }
    })().catch((err) => writer.abort(err).catch(() => {}));
    return new Response(readable, { headers });
  },
};

// Request-side variants of the native pipe: what the router does before its host call, one thing at a time.
//   nativefl   the body as a FixedLengthStream written in 2 parts by JS (src/upstream/fetch.ts requestBody)
//   nativesig  signal AbortSignal.any([request.signal, deadline]) + a deadline timer cleared after the headers
//   nativeauth two SHA-256 digests awaited (src/auth.ts matchesAny for one key)
//   nativeall  all three
async function nativeVariant(mode, request, origin, rest) {
  const all = mode === "nativeall";
  if (mode === "nativeauth" || all) {
    const digest = async (s) => new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
    await digest("prof-key");
    await digest("prof-key");
  }
  const text = await request.text();
  let body = text;
  if (mode === "nativefl" || all) {
    const parts = [new TextEncoder().encode(text.slice(0, 20)), new TextEncoder().encode(text.slice(20))];
    const { readable, writable } = new FixedLengthStream(parts.reduce((n, p) => n + p.byteLength, 0));
    const writer = writable.getWriter();
    (async () => {
      for (const part of parts) await writer.write(part);
      await writer.close();
    })().catch(() => {});
    body = readable;
  }
  let signal = request.signal;
  let timer;
  if (mode === "nativesig" || all) {
    const deadline = new AbortController();
    timer = setTimeout(() => deadline.abort(), 300000);
    signal = AbortSignal.any([request.signal, deadline.signal]);
  }
  try {
    const upstream = await fetch(`${origin}/${rest.join("/")}`, { method: "POST", headers: { "content-type": "application/json" }, body, signal });
    return new Response(upstream.body, upstream);
  } finally {
    clearTimeout(timer);
  }
}
