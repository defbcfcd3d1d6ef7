/**
 * A connect-phase deadline for a Worker, whose fetch exposes no connect event. A host that accepts no connection (a
 * blackholed tunnel, a machine gone from the LAN) would otherwise hold a request for the whole first-byte deadline.
 * So when the answer's headers are slow (half of `connectMs` gone), one cheap `GET /health` goes to the same host:
 * llama-server answers it at once even while busy or loading (any status counts, a 503 "loading" too). When neither
 * the answer nor the probe has responded by `connectMs`, the host is taken as unreachable and the request aborted.
 * A fast answer costs nothing; a slow one (a long prompt being processed) costs one small GET.
 */
export interface ConnectWatch {
  /** True once the deadline passed with no sign of life; the caller's `onDead` has run. */
  readonly fired: boolean;
  /** The answer's headers arrived or the request ended: no probe, or stop the one under way. */
  stop(): void;
}

export function watchConnect(healthUrl: string, headers: Headers, connectMs: number, onDead: () => void): ConnectWatch {
  let fired = false;
  let alive = false;
  const probe = new AbortController();
  const timers: ReturnType<typeof setTimeout>[] = [];
  const startProbe = () => {
    fetch(healthUrl, { method: "GET", headers, signal: probe.signal }).then(
      (response) => {
        alive = true;
        response.body?.cancel().catch(() => {});
      },
      () => {}, // refused or aborted: no sign of life; the deadline decides
    );
  };
  const probeAfter = Math.floor(connectMs / 2);
  timers.push(setTimeout(startProbe, probeAfter));
  timers.push(
    setTimeout(() => {
      if (alive) return;
      fired = true;
      onDead();
    }, connectMs),
  );
  return {
    get fired() {
      return fired;
    },
    stop() {
      for (const timer of timers) clearTimeout(timer);
      probe.abort();
    },
  };
}
