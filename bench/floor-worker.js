// The platform floor for `npm run bench`: the smallest Worker that forwards a request to a host and streams the
// answer back, on the runtime the router uses under `npm start` (workerd via miniflare, a direct socket), so that
// router minus floor is what the router's own code costs. Like the router it reads the request body before calling
// the host (so the host gets a Content-Length, not a chunked body).
//
//   /<upstream>/<path>         THE FLOOR: every chunk passes through JS unchanged, the cheapest way workerd offers (a
//                              read loop writing into a native IdentityTransformStream, the shape src/stream/relay.ts
//                              uses). Any Worker that must look at the bytes (the router rewrites `model` in each
//                              chunk) pays at least this.
//   /native/<upstream>/<path>  NO JS PER CHUNK: `new Response(upstream.body)`, workerd pumps the bytes natively. Only
//                              a Worker that never touches the body can stream like this; shown for reference.
//
// The upstream name maps to env.UPSTREAMS: /llama/v1/chat/completions -> UPSTREAMS.llama + /v1/chat/completions.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    let path = url.pathname;
    const native = path.startsWith("/native/");
    if (native) path = path.slice("/native".length);
    const slash = path.indexOf("/", 1);
    const origin = env.UPSTREAMS[path.slice(1, slash)];
    if (!origin || slash < 0) return new Response("unknown upstream", { status: 404 });
    const upstream = await fetch(origin + path.slice(slash) + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer(),
      signal: request.signal,
    });
    if (native || !upstream.body) return new Response(upstream.body, upstream);
    const { readable, writable } = new IdentityTransformStream();
    const writer = writable.getWriter();
    const reader = upstream.body.getReader();
    writer.closed.catch((reason) => reader.cancel(reason).catch(() => {}));
    (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          await writer.write(value);
        }
        await writer.close();
      } catch (err) {
        reader.cancel(err).catch(() => {});
        writer.abort(err).catch(() => {});
      }
    })();
    return new Response(readable, upstream);
  },
};
