// A machine paired through the console (`cocore agent pair`): the device credential in the state
// directory (0600), the pairing itself, and the atproto Agent that writes through the console's
// proxy with every request signed by the machine key. That Agent is the one seam: the provider
// record, attestations and receipts are written through it exactly as through a password session.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Agent } from "@atproto/api";
import { base64Encode, DEVICE_HEADERS, deviceRequestBytes, pairingRequestBytes, sign, type SigningKey } from "@cocore/protocol";
import { writeSecretFile } from "./state.ts";

export const DEVICE_FILE = "device.json";

export interface DeviceCredential {
  /** The console that holds the owner's session (its /xrpc/ is the proxy). */
  console: string;
  deviceId: string;
  token: string;
  /** The owner's DID: the repo the machine writes. */
  owner: string;
  handle?: string;
  pds?: string;
  label: string;
}

export class PairingError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export function loadDeviceCredential(stateDir: string): DeviceCredential | undefined {
  const path = join(stateDir, DEVICE_FILE);
  if (!existsSync(path)) return undefined;
  const c = JSON.parse(readFileSync(path, "utf8")) as Partial<DeviceCredential>;
  if (typeof c.console !== "string" || typeof c.token !== "string" || typeof c.owner !== "string" || typeof c.deviceId !== "string") {
    throw new PairingError("invalid_device_file", `${path} is not a device credential; pair again with cocore agent pair`);
  }
  return c as DeviceCredential;
}

export function saveDeviceCredential(stateDir: string, c: DeviceCredential): string {
  const path = join(stateDir, DEVICE_FILE);
  writeSecretFile(path, JSON.stringify(c, null, 2) + "\n");
  return path;
}

/** Headers that authenticate one request to the proxy: the token, and the machine key's signature over it. */
export function deviceRequestHeaders(c: Pick<DeviceCredential, "token" | "deviceId">, key: SigningKey, method: string, path: string, body: string | Uint8Array = ""): Record<string, string> {
  const at = new Date().toISOString();
  const nonce = randomBytes(18).toString("base64url");
  const bodySha256 = createHash("sha256").update(body).digest("hex");
  const sig = sign(key, deviceRequestBytes({ method, path, bodySha256, at, nonce, deviceId: c.deviceId }));
  return { authorization: `CocoreDevice ${c.token}`, [DEVICE_HEADERS.at]: at, [DEVICE_HEADERS.nonce]: nonce, [DEVICE_HEADERS.sig]: base64Encode(sig) };
}

/** An atproto Agent acting as the owner's repo through the console's write proxy. */
export function deviceAgent(c: DeviceCredential, key: SigningKey): Agent {
  const base = c.console.replace(/\/+$/, "");
  return new Agent({
    did: c.owner as `did:${string}:${string}`,
    async fetchHandler(path: string, init: RequestInit): Promise<Response> {
      const method = (init.method ?? "GET").toUpperCase();
      const body = typeof init.body === "string" ? init.body : init.body instanceof Uint8Array ? init.body : init.body == null ? "" : undefined;
      if (body === undefined) throw new PairingError("unsupported_body", "the device proxy takes JSON bodies only");
      const headers = new Headers(init.headers);
      // Sign what fetch will send: the URL as parsed (and re-encoded) by fetch itself.
      const url = new URL(`${base}${path}`);
      for (const [k, v] of Object.entries(deviceRequestHeaders(c, key, method, url.pathname + url.search, body))) headers.set(k, v);
      // A console that stops answering must not hang the agent's loops.
      return fetch(url, { ...init, method, headers, signal: init.signal ?? AbortSignal.timeout(30_000), ...(method === "GET" ? {} : { body }) });
    },
  });
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  } catch (err) {
    throw new PairingError("console_unreachable", `cannot reach the console at ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: res.status, json };
}

function refusal(r: { status: number; json: Record<string, unknown> }): PairingError {
  const e = r.json.error as { code?: string; message?: string } | undefined;
  return new PairingError(e?.code ?? `http_${r.status}`, e?.message ?? `the console answered ${r.status}`);
}

/** Why the pairing stopped: the signal's own PairingError (a timeout, Ctrl-C), else a plain abort. */
const stopped = (signal: AbortSignal): PairingError => (signal.reason instanceof PairingError ? signal.reason : new PairingError("aborted", "pairing stopped"));

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface PairOptions {
  console: string;
  stateDir: string;
  signingKey: SigningKey;
  label: string;
  /** Told the code and the URL to show the owner. */
  onCode(p: { code: string; approveUrl: string; expiresAt: string }): void;
  /** Stops the wait; a PairingError as the abort reason is what pairMachine throws. */
  signal?: AbortSignal;
}

/** Pairs the machine: asks for a code, waits for the owner's approval, saves the credential. */
export async function pairMachine(o: PairOptions): Promise<{ credential: DeviceCredential; path: string }> {
  const base = o.console.replace(/\/+$/, "");
  const at = new Date().toISOString();
  const publicKey = o.signingKey.publicKey;
  const sig = base64Encode(sign(o.signingKey, pairingRequestBytes({ publicKey, label: o.label, at })));
  const asked = await postJson(`${base}/api/pair`, { publicKey, label: o.label, at, sig });
  if (asked.status !== 200) throw refusal(asked);
  const { code, pollSecret, approveUrl, expiresAt } = asked.json as { code: string; pollSecret: string; approveUrl: string; expiresAt: string };
  const pollMs = Math.max(250, Number(asked.json.pollMs) || 1000);
  o.onCode({ code, approveUrl, expiresAt });
  for (;;) {
    await sleep(pollMs, o.signal);
    if (o.signal?.aborted) throw stopped(o.signal);
    const p = await postJson(`${base}/api/pair/poll`, { code, pollSecret });
    if (p.status !== 200) throw refusal(p);
    if (p.json.status !== "approved") continue;
    const j = p.json as Record<string, string>;
    const credential: DeviceCredential = { console: base, deviceId: j.deviceId!, token: j.token!, owner: j.owner!, label: j.label ?? o.label, ...(j.handle ? { handle: j.handle } : {}), ...(j.pds ? { pds: j.pds } : {}) };
    return { credential, path: saveDeviceCredential(o.stateDir, credential) };
  }
}
