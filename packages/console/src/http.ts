// The few HTTP helpers the console's server needs over node:http: JSON in and out, cookies, and a
// same-origin check for every state-changing request (the session cookie is SameSite=Lax, and a
// cross-site form cannot send application/json, but the Origin check makes that explicit).
import type { IncomingMessage, ServerResponse } from "node:http";
import { ConsoleError } from "./errors.ts";

export const MAX_BODY_BYTES = 256 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ConsoleError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } });
}

/** The raw request body, refused past MAX_BODY_BYTES. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new ConsoleError(413, "body_too_large", `The request body is larger than ${MAX_BODY_BYTES / 1024} KiB.`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = String(req.headers["content-type"] ?? "");
  if (!type.startsWith("application/json")) throw new ConsoleError(415, "unsupported_media_type", "Send the request body as application/json.");
  return parseJsonObject(await readBody(req));
}

export function parseJsonObject(bytes: Buffer): Record<string, unknown> {
  if (bytes.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new ConsoleError(400, "invalid_json", "The request body is not valid JSON.");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new ConsoleError(400, "invalid_json", "The request body must be a JSON object.");
  return parsed as Record<string, unknown>;
}

export function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of String(req.headers.cookie ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out.set(part.slice(0, i).trim(), decodeURIComponent(part.slice(i + 1).trim()));
  }
  return out;
}

export function setCookie(name: string, value: string, o: { maxAgeSeconds?: number } = {}): string {
  const age = o.maxAgeSeconds === undefined ? "" : `; Max-Age=${o.maxAgeSeconds}`;
  return `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax${age}`;
}

/** Refuses a state-changing request from another origin (CSRF). */
export function assertSameOrigin(req: IncomingMessage, origin: string): void {
  const from = req.headers.origin;
  if (from !== undefined && from !== origin) throw new ConsoleError(403, "cross_origin", `Requests must come from the console itself (${origin}).`);
  if (from === undefined && req.headers["sec-fetch-site"] !== undefined && req.headers["sec-fetch-site"] !== "same-origin") {
    throw new ConsoleError(403, "cross_origin", "Requests must come from the console itself.");
  }
}

export function str(body: Record<string, unknown>, key: string, o: { max?: number; optional?: boolean } = {}): string {
  const v = body[key];
  if (v === undefined && o.optional) return "";
  if (typeof v !== "string" || (!o.optional && v.trim() === "")) throw new ConsoleError(400, "invalid_field", `\`${key}\` must be a non-empty string.`);
  if (o.max !== undefined && v.length > o.max) throw new ConsoleError(400, "invalid_field", `\`${key}\` is longer than ${o.max} characters.`);
  return v.trim();
}
