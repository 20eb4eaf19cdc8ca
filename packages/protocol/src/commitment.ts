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

/** receipt.outputCipherCommitment: over the exact sealed reply bytes delivered. */
export function outputCipherCommitment(sealedReply: Uint8Array): string {
  return sha256Hex(sealedReply);
}
