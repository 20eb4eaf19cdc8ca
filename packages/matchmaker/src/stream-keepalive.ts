// Keeps a long-lived response stream busy: after `idleMs` with nothing written, `ping` writes a
// frame that carries no data (an NDJSON `keepalive` event, an SSE comment), so that proxies and
// load balancers with an idle timeout do not cut a long prefill or a slow generation off.

export interface IdleKeepalive {
  /** Something was written: the idle time starts over. */
  touch(): void;
  stop(): void;
}

export function idleKeepalive(idleMs: number, ping: () => void): IdleKeepalive {
  // touch() runs on every relayed event: it only notes the time, and one timer checks it, rather
  // than clearing and setting a timer per chunk.
  let lastWrite = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      const idle = Date.now() - lastWrite;
      if (idle >= idleMs) {
        ping();
        lastWrite = Date.now();
        arm(idleMs);
      } else arm(idleMs - idle);
    }, ms);
    timer.unref();
  };
  arm(idleMs);
  return {
    touch() {
      lastWrite = Date.now();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
