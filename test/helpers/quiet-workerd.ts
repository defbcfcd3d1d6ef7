/**
 * Loaded by vitest.workers.config.ts, in vitest's own process: drops the two lines workerd prints on a green
 * integration run that are not the router's, so that a passing `npm test` is quiet. Nothing else is filtered.
 * - `WebSocket peer disconnected`: vitest-pool-workers 0.15.1 closing its runner socket at the end of each file
 *   (fixed upstream in cloudflare/workers-sdk #13833, in pool releases that need Node 22).
 * - workerd's own `uncaught exception ... AbortError` and `pump canceled` lines, with their stacks: printed when a
 *   request whose body it is still sending is aborted, which connect-real-socket.test.ts does on purpose (the
 *   connect deadline giving up on a host that took the connection and never answers). That test asserts what the
 *   client gets; the runtime's note about the aborted body is no failure.
 */
const NOISE = [
  /^exception = workerd\/api\/web-socket\.c\+\+:\d+: disconnected: WebSocket peer disconnected\n?$/,
  /^uncaught exception; exception = workerd\/jsg\/[^\n]*jsg\.DOMException\(AbortError\): The operation was aborted(\nstack:[^\n]*)?\n?$/,
  /^exception = workerd\/api\/streams\/internal\.c\+\+:\d+: disconnected: pump canceled(\nstack:[^\n]*)?\n?$/,
];

for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === "string" && NOISE.some((pattern) => pattern.test(chunk))) return true;
    return write(chunk, ...rest);
  }) as typeof stream.write;
}
