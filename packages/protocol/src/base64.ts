// Standard (RFC 4648 §4) base64, the encoding PROTOCOL.md §4 uses for keys and for bytes inside
// canonical JSON. Encoding always pads; decoding tolerates missing padding because some producers
// strip it, but rejects anything outside the standard alphabet so that a url-safe or corrupted
// string is noticed instead of silently decoding to different bytes.

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;

export function base64Encode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export class Base64Error extends Error {
  override readonly name = "Base64Error";
}

export function base64Decode(text: string): Uint8Array {
  if (!STANDARD.test(text)) throw new Base64Error("not standard base64");
  const body = text.replace(/=+$/, "");
  if (body.length % 4 === 1) throw new Base64Error("base64 length is impossible");
  const padded = body + "=".repeat((4 - (body.length % 4)) % 4);
  if (text.length !== body.length && text.length !== padded.length) throw new Base64Error("wrong base64 padding");
  const buf = Buffer.from(padded, "base64");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Re-encode base64 into the one canonical form (padded standard alphabet). */
export function base64Normalize(text: string): string {
  return base64Encode(base64Decode(text));
}
