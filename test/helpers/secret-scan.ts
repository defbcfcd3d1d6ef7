/**
 * Setup file of the integration tier: no secret's value may appear in any response (headers or body) or any console
 * line of the suite. Every response that `call()` returns is cloned and scanned (all of its body that arrived, even
 * when it errored or never ended); console output is scanned as it is written (a test that mocks console.log for its own assertions hides its lines from this scan).
 * Each file fails in its afterAll if anything leaked, naming where.
 */
import { env } from "cloudflare:test";
import { afterAll } from "vitest";

const PLAIN_SETTINGS = new Set(["ROUTER_AUTH", "ROUTER_CORS_ORIGINS", "ROUTER_MAX_BODY_BYTES", "CONFIG_REFRESH_MS"]);

/** The values of every secret binding the suite gives the Worker (client keys one by one). */
export const SECRET_VALUES: string[] = Object.entries(env as Record<string, unknown>).flatMap(([name, value]) =>
  typeof value === "string" && !PLAIN_SETTINGS.has(name) ? value.split(name === "ROUTER_API_KEYS" ? "," : "\u0000").map((v) => v.trim()) : [],
);

const leaks: string[] = [];
const pending: Promise<void>[] = [];
/** Readers of bodies still arriving; cut at the end of the file, and what they got is scanned. */
const open = new Set<ReadableStreamDefaultReader<Uint8Array>>();

function check(where: string, text: string): void {
  for (const secret of SECRET_VALUES) if (text.includes(secret)) leaks.push(`${where} contains the value of a secret (${secret.slice(0, 4)}…)`);
}

/**
 * Scans a response's headers now and its body as it arrives (a clone, so the test reads the original). A body that
 * errors (a host reset, a test that cut it) is scanned as far as it arrived; nothing is skipped.
 */
export function scanResponse(label: string, response: Response): void {
  check(`${label} headers`, JSON.stringify([...response.headers]));
  if (!response.body) return;
  const reader = response.clone().body!.getReader();
  open.add(reader);
  pending.push(
    (async () => {
      const decoder = new TextDecoder();
      let text = "";
      try {
        for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
        text += decoder.decode();
      } catch {
        // cut or reset: what arrived until then is scanned below
      } finally {
        open.delete(reader);
        check(`${label} body`, text);
      }
    })(),
  );
}

/** Waits for every body scan; bodies still open after `graceMs` (a stream the test left hanging) are cut and what they got is scanned. */
export async function finishScans(graceMs = 2_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([Promise.allSettled(pending), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  if (timer !== undefined) clearTimeout(timer);
  await Promise.allSettled([...open].map((reader) => reader.cancel("secret-scan: end of file")));
  await Promise.allSettled(pending);
}

/** The leaks found so far, removed from the file's final verdict (for the scanner's own test). */
export function takeLeaks(): string[] {
  return leaks.splice(0);
}

for (const level of ["log", "info", "warn", "error", "debug"] as const) {
  const original = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    check(`console.${level}`, args.map((a) => (typeof a === "string" ? a : safeJson(a))).join(" "));
    original(...args);
  };
}

function safeJson(value: unknown): string {
  try {
    return value instanceof Error ? `${value.message} ${value.stack ?? ""}` : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

afterAll(async () => {
  await finishScans();
  if (leaks.length) throw new Error(`secrets leaked:\n${[...new Set(leaks)].join("\n")}`);
});
