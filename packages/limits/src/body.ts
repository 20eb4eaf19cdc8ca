// The body cap, applied to a request stream. The one piece of this package that touches a stream:
// both HTTP services (gateway, matchmaker) read bodies the same way and map the outcome to their
// own error shapes.
import type { IncomingMessage } from "node:http";

export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
  constructor(readonly maxBytes: number) {
    super(`The request body is larger than ${maxBytes} bytes.`);
  }
}

export class BodyTimeoutError extends Error {
  override readonly name = "BodyTimeoutError";
  constructor(readonly timeoutMs: number) {
    super(`The request body did not arrive within ${Math.round(timeoutMs / 1000)} s.`);
  }
}

/**
 * The body as UTF-8, at most `maxBytes`. Refused before reading when the length is declared,
 * otherwise once the bytes pass the cap; either way the rest is drained, not kept, so that the
 * refusal reaches the client. With `timeoutMs`, a body that has not ended by then is refused.
 */
export function readCappedBody(req: IncomingMessage, maxBytes: number, o: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers["content-length"]) > maxBytes) {
      req.resume();
      return reject(new BodyTooLargeError(maxBytes));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      f();
    };
    const timer = o.timeoutMs ? setTimeout(() => finish(() => reject(new BodyTimeoutError(o.timeoutMs!))), o.timeoutMs) : undefined;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= maxBytes) chunks.push(c);
      else {
        chunks.length = 0;
        finish(() => reject(new BodyTooLargeError(maxBytes)));
      }
    });
    req.on("end", () => finish(() => resolve(Buffer.concat(chunks).toString("utf8"))));
    req.on("error", (e) => finish(() => reject(e)));
  });
}
