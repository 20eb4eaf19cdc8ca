// Commitments are lowercase SHA-256 hex (64 chars), the form the lexicons constrain.
import { createHash } from "node:crypto";

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** job.inputCommitment / receipt.inputCommitment: over the sealed frame `nonce || box`. */
export function inputCommitment(sealed: Uint8Array): string {
  return sha256Hex(sealed);
}

/** receipt.outputCommitment: over the plaintext output's UTF-8 bytes. */
export function outputCommitment(plaintext: string | Uint8Array): string {
  return sha256Hex(typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext);
}

/**
 * receipt.outputCipherCommitment: over the exact sealed reply bytes delivered. A streamed reply is
 * many frames (`nonce(24) || box` each, see sealReply); the sealed reply bytes are those frames
 * concatenated in stream order (seq 0, 1, 2, …), raw bytes, no separators or length prefixes —
 * pass a list of frames or feed them one by one to OutputCipherHash.
 */
export function outputCipherCommitment(sealedReply: Uint8Array | readonly Uint8Array[]): string {
  const h = new OutputCipherHash();
  if (sealedReply instanceof Uint8Array) h.update(sealedReply);
  else for (const f of sealedReply) h.update(f);
  return h.digest();
}

/** outputCipherCommitment computed frame by frame while the reply streams. */
export class OutputCipherHash {
  private readonly h = createHash("sha256");
  update(frame: Uint8Array): void {
    this.h.update(frame);
  }
  digest(): string {
    return this.h.digest("hex");
  }
}
