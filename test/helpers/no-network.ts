/**
 * Setup file of the integration tier: no test reaches the network. A fetch that no fake host scripted (see
 * fake-hosts.ts) fails at once, as a refused connection would, instead of a real DNS lookup that workerd reports as
 * stack traces; and the file fails in its afterAll, naming the URLs, so the test that forgot its fake host is fixed.
 * Loopback addresses are the exception: the sockets a test opens itself (loopback-hosts.ts) are real on purpose.
 */
import { afterAll } from "vitest";

const unscripted: string[] = [];

const realFetch = globalThis.fetch;

globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
  const url = new Request(input, init).url;
  if (new URL(url).hostname === "127.0.0.1") return realFetch(input, init);
  unscripted.push(url);
  throw new TypeError(`no fake host for ${url} (the integration tier never reaches the network)`);
};

/** The unscripted fetches so far, removed from the file's final verdict (for the guard's own test). */
export function takeUnscripted(): string[] {
  return unscripted.splice(0);
}

afterAll(() => {
  if (unscripted.length) throw new Error(`fetches no fake host scripted:\n${[...new Set(unscripted)].join("\n")}`);
});
