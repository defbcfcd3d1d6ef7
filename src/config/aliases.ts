/**
 * What an alias means, in one place. A config may write an alias three ways: one composite id, an array (an
 * ordered fallback chain), or `{ members, policy }`. Every reader (resolver, catalog, agent configs, status page)
 * goes through {@link aliasMembers}, so a new form never has to be taught to each of them.
 *
 * Plain TypeScript, no Workers API: exported to Node through `boocode-router/resolver`.
 */

/**
 * `replicas`: the same model on several hosts; the router picks whichever should answer first (free slot, warm
 * cache, model loaded). `ordered`: a fallback chain; config order is kept because the order is a quality choice.
 */
export const ALIAS_POLICIES = ["replicas", "ordered"] as const;
export type AliasPolicy = (typeof ALIAS_POLICIES)[number];

/** The three written forms (the zod schema in schema.ts validates them). */
export type AliasTarget =
  | string
  | readonly string[]
  | { readonly members: readonly string[]; readonly policy: AliasPolicy; readonly continuation?: boolean };

export interface AliasMembers {
  members: string[];
  policy: AliasPolicy;
  /**
   * A stream that breaks after its first byte may be continued on another member (replicas) or on the same host when
   * it comes back (docs/architecture.md, "Invariants"). On unless the object form says `continuation: false`.
   */
  continuation: boolean;
}

/** A string or an array keeps its old meaning (ordered); the object form says its policy. */
export function aliasMembers(target: AliasTarget): AliasMembers {
  if (typeof target === "string") return { members: [target], policy: "ordered", continuation: true };
  if (isMemberList(target)) return { members: [...target], policy: "ordered", continuation: true };
  return { members: [...target.members], policy: target.policy, continuation: target.continuation !== false };
}

function isMemberList(target: Exclude<AliasTarget, string>): target is readonly string[] {
  return Array.isArray(target);
}
