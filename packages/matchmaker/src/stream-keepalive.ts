// Keeps a long-lived response stream busy: after `idleMs` with nothing written, `ping` writes a
// frame that carries no data (an NDJSON `keepalive` event, an SSE comment), so that proxies and
// load balancers with an idle timeout do not cut a long prefill or a slow generation off.

export interface IdleKeepalive {
  /** Something was written: the idle time starts over. */
  touch(): void;
  stop(): void;
}

export function idleKeepalive(idleMs: number, ping: () => void): IdleKeepalive {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = () => {
    if (timer) clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => {
      ping();
      arm();
    }, idleMs);
    timer.unref();
  };
  arm();
  return {
    touch: arm,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
