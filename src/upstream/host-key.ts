/**
 * How per-isolate memory about a host is keyed (recent failures, discovery's caches, activity counters): by provider
 * id AND base URL, so a config that moves a provider to a new URL starts with a clean slate.
 */
export interface HostRef {
  readonly id: string;
  readonly baseUrl: string;
}

export const hostKey = (host: HostRef): string => `${host.id} ${host.baseUrl}`;
