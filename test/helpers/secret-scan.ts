/**
 * Setup file of the integration tier: no secret's value may appear in any response (headers or body) or any console
 * line of the suite (DESIGN §7). Every response that `call()` returns is cloned and scanned; console output is
 * scanned as it is written (a test that mocks console.log for its own assertions hides its lines from this scan).
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

function check(where: string, text: string): void {
  for (const secret of SECRET_VALUES) if (text.includes(secret)) leaks.push(`${where} contains the value of a secret (${secret.slice(0, 4)}…)`);
}

/** Scans a response's headers now and its body in the background (a clone, so the test reads the original). */
export function scanResponse(label: string, response: Response): void {
  check(`${label} headers`, JSON.stringify([...response.headers]));
  if (!response.body) return;
  const copy = response.clone();
  pending.push(
    copy.text().then(
      (text) => check(`${label} body`, text),
      () => {}, // a body the test cut off or the host reset: what arrived was checked by nobody, but nothing leaks through an error
    ),
  );
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
  await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, 5_000))]);
  if (leaks.length) throw new Error(`secrets leaked:\n${[...new Set(leaks)].join("\n")}`);
});
