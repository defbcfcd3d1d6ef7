/**
 * Session affinity for alias pools without shared state: rendezvous (highest-random-weight) hashing orders a pool's
 * members by hash(session, member). The same session always prefers the same host, so that host's prompt cache keeps
 * hitting; if it fails, the session moves to its second choice only, and other sessions are not reshuffled.
 * Without a session the pool keeps its configured order (first healthy member).
 */

/** FNV-1a, 32-bit: fast, stable across runtimes, good enough to spread sessions (not a security primitive). */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** A short, stable tag for a session id, for log lines (the id itself is not logged). */
export function sessionTag(session: string): string {
  return fnv1a(session).toString(16).padStart(8, "0");
}

/** Orders `members` (by their `id`) for `session`; returns the input order when there is no session. */
export function orderForSession<T extends { id: string }>(members: readonly T[], session: string | undefined): T[] {
  if (!session || members.length < 2) return [...members];
  return members
    .map((member) => ({ member, weight: fnv1a(`${session}\u0000${member.id}`) }))
    .sort((a, b) => b.weight - a.weight || (a.member.id < b.member.id ? -1 : 1))
    .map((x) => x.member);
}
