// The output on its way back to the requester: pieces sealed to the requester's reply key
// (matchmaker-protocol.ts, "Output sealing") and coalesced so that a fast engine does not pay one
// seal + one WebSocket message + one relay hop per token. The first piece goes out at once (it is
// the requester's time to first token); later ones at most every `flushMs`. The running
// outputCipherCommitment covers exactly the frames emitted, in order.
//
// A flush costs ~0.3 ms of the event loop (seal, base64, JSON, WebSocket write) and lands between
// two tokens, so with a fast engine the interval is what the agent path pays against the raw
// loop: at 8 ms the bundled model (~1,200 tokens/s on one thread) ran ~10% slower through the
// agent; see OUTPUT_FLUSH_MS. With a real model on a CPU (tens of tokens/s) every token is its own
// piece anyway.
import { base64Encode, OutputCipherHash, sealReply } from "@cocore/protocol";
import { OUTPUT_FLUSH_MS } from "./matchmaker-protocol.ts";

const utf8 = new TextEncoder();
const FLUSH_SLACK_MS = 1;

export class ReplyStream {
  private pending = "";
  private timer: NodeJS.Timeout | undefined;
  private lastFlush = Number.NEGATIVE_INFINITY;
  private readonly hash = new OutputCipherHash();
  private ended = false;

  constructor(
    private readonly key: Uint8Array,
    /** Receives each sealed frame, base64. */
    private readonly emit: (sealed: string) => void,
    private readonly flushMs = OUTPUT_FLUSH_MS,
  ) {}

  push(text: string): void {
    if (this.ended || text.length === 0) return;
    this.pending += text;
    if (this.timer) return;
    const wait = this.lastFlush + this.flushMs - performance.now();
    // A push that comes a hair early (the llama engine hands over text every flushMs, measured
    // on its own clock) flushes now rather than on a timer that would fire mid-token.
    if (wait <= FLUSH_SLACK_MS) this.flush();
    else this.timer = setTimeout(() => this.flush(), Math.ceil(wait));
  }

  /** Emits whatever is pending and returns the outputCipherCommitment of everything emitted. */
  end(): string {
    this.flush();
    this.ended = true;
    return this.hash.digest();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || this.ended) return;
    const frame = sealReply(utf8.encode(this.pending), this.key);
    this.pending = "";
    this.hash.update(frame);
    this.lastFlush = performance.now();
    this.emit(base64Encode(frame));
  }
}
