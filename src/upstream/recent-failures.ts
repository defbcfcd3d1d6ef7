/**
 * Hosts that failed recently, remembered per isolate for a short while, so the next request of an alias pool tries
 * the healthy members first instead of paying the same timeout again. Memory only orders candidates; it never refuses
 * a request, so a stale entry costs at most one retry and a fresh isolate behaves exactly the same, just slower.
 */
import { hostKey as key, type HostRef } from "./host-key.js";

const REMEMBER_MS = 15_000;

const failedAt = new Map<string, number>();

export function markFailed(host: HostRef, now = Date.now()): void {
  failedAt.set(key(host), now);
}

export function markHealthy(host: HostRef): void {
  failedAt.delete(key(host));
}

export function failedRecently(host: HostRef, now = Date.now()): boolean {
  const at = failedAt.get(key(host));
  if (at === undefined) return false;
  if (now - at < REMEMBER_MS) return true;
  failedAt.delete(key(host));
  return false;
}

/** Healthy candidates first, recently failed ones last; the order within each group is kept. */
export function healthyFirst<T extends { provider: HostRef }>(candidates: T[], now = Date.now()): T[] {
  if (candidates.length < 2) return candidates;
  const healthy = candidates.filter((c) => !failedRecently(c.provider, now));
  return healthy.length === candidates.length ? candidates : [...healthy, ...candidates.filter((c) => failedRecently(c.provider, now))];
}
