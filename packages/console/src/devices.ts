// Pairing a machine without a password (device-code style) and the credentials that come of it.
// The agent asks for a pairing with its machine key (proving it holds the key), gets a short code
// for a person and a poll secret for itself; the signed-in owner approves the code; the agent's
// next poll receives a device token, once. Tokens and poll secrets are stored only as SHA-256.
// A device's requests are also signed by its machine key (device-proxy.ts), so the token alone,
// copied off the machine, writes nothing.
import { createHash, randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import { isValidPublicKey, pairingRequestBytes, verify, base64Decode, DEVICE_CLOCK_SKEW_MS } from "@cocore/protocol";
import type { ConsoleDb } from "./db.ts";
import { ConsoleError } from "./errors.ts";

export const PAIRING_TTL_MS = 10 * 60_000;
/** How often the agent should poll (it may poll slower). */
export const PAIRING_POLL_MS = 1000;
// No vowels (no words), no look-alikes (0/O, 1/I/L): read aloud or typed from another screen.
const CODE_ALPHABET = "BCDFGHJKMNPQRSTVWXZ23456789";
export const CODE_RE = /^[BCDFGHJKMNPQRSTVWXZ2-9]{4}-[BCDFGHJKMNPQRSTVWXZ2-9]{4}$/;
const TOKEN_PREFIX = "cdv1";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const secret = () => randomBytes(32).toString("base64url");

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

export type PairingStatus = "pending" | "approved" | "denied" | "expired";

export interface PairingView {
  code: string;
  label: string;
  publicKey: string;
  expiresAt: string;
  status: PairingStatus;
}

export interface Device {
  id: string;
  owner: string;
  deviceKey: string;
  label: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

interface PairingRow {
  code: string;
  poll_hash: string;
  device_key: string;
  label: string;
  created_at: number;
  expires_at: number;
  status: string;
  owner: string | null;
  device_id: string | null;
}

interface DeviceRow {
  id: string;
  owner: string;
  device_key: string;
  label: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const toDevice = (r: DeviceRow): Device => ({ id: r.id, owner: r.owner, deviceKey: r.device_key, label: r.label, createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at });

export interface PairingRequest {
  publicKey: string;
  label: string;
  at: string;
  /** base64 DER signature by the machine key over pairingRequestBytes. */
  sig: string;
}

export class DeviceStore {
  constructor(private readonly db: ConsoleDb, private readonly now: () => number = Date.now) {}

  private pairing(code: string): PairingRow {
    const row = this.db.prepare<[string], PairingRow>("SELECT * FROM pairing_request WHERE code = ?").get(code);
    if (!row) throw new ConsoleError(404, "no_such_pairing", `No pairing ${code}: check the code the machine printed.`);
    return row;
  }

  private statusOf(row: PairingRow): PairingStatus {
    if (row.status === "pending" && row.expires_at <= this.now()) return "expired";
    return row.status as PairingStatus;
  }

  /** A machine asks to be paired; answers its code and poll secret. */
  request(r: PairingRequest): { code: string; pollSecret: string; expiresAt: string } {
    if (typeof r.publicKey !== "string" || !isValidPublicKey(r.publicKey)) throw new ConsoleError(400, "invalid_public_key", "`publicKey` must be a P-256 public key (base64 of X‖Y).");
    if (typeof r.label !== "string" || r.label.trim() === "" || r.label.length > 64) throw new ConsoleError(400, "invalid_label", "`label` must be a machine name of 1 to 64 characters.");
    const at = typeof r.at === "string" ? Date.parse(r.at) : NaN;
    if (!Number.isFinite(at) || Math.abs(at - this.now()) > DEVICE_CLOCK_SKEW_MS) throw new ConsoleError(400, "stale_request", "`at` must be the current time (check the machine's clock).");
    let sig: Uint8Array;
    try {
      sig = base64Decode(String(r.sig));
    } catch {
      throw new ConsoleError(400, "bad_signature", "`sig` is not base64.");
    }
    if (!verify(r.publicKey, pairingRequestBytes({ publicKey: r.publicKey, label: r.label, at: r.at }), sig)) throw new ConsoleError(400, "bad_signature", "`sig` does not verify under `publicKey`.");
    const now = this.now();
    this.db.prepare("DELETE FROM pairing_request WHERE expires_at <= ?").run(now - PAIRING_TTL_MS);
    const pollSecret = secret();
    for (;;) {
      const raw = Array.from({ length: 8 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join("");
      const code = `${raw.slice(0, 4)}-${raw.slice(4)}`;
      const ok = this.db
        .prepare("INSERT OR IGNORE INTO pairing_request (code, poll_hash, device_key, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
        .run(code, sha(pollSecret), r.publicKey, r.label.trim(), now, now + PAIRING_TTL_MS).changes;
      if (ok) return { code, pollSecret, expiresAt: new Date(now + PAIRING_TTL_MS).toISOString() };
    }
  }

  view(code: string): PairingView {
    const row = this.pairing(code);
    return { code, label: row.label, publicKey: row.device_key, expiresAt: new Date(row.expires_at).toISOString(), status: this.statusOf(row) };
  }

  /** The owner approves: a device row for this machine key, its token issued at the next poll. */
  approve(code: string, owner: string): Device {
    return this.db.transaction(() => {
      const row = this.pairing(code);
      const status = this.statusOf(row);
      if (status !== "pending") throw new ConsoleError(409, `pairing_${status}`, `This pairing is ${status}; ask the machine for a new code.`);
      const live = this.db.prepare<[string], DeviceRow>("SELECT * FROM device WHERE device_key = ? AND revoked_at IS NULL").get(row.device_key);
      if (live) throw new ConsoleError(409, "machine_already_paired", `This machine key is already paired${live.owner === owner ? ` as "${live.label}"; revoke it on the Machines page first` : " with another account"}.`);
      // The key is unique among devices; a revoked pairing of the same machine makes way.
      this.db.prepare("DELETE FROM device WHERE device_key = ? AND revoked_at IS NOT NULL").run(row.device_key);
      const id = randomBytes(12).toString("base64url");
      this.db.prepare("INSERT INTO device (id, owner, device_key, label, created_at) VALUES (?, ?, ?, ?, ?)").run(id, owner, row.device_key, row.label, this.now());
      this.db.prepare("UPDATE pairing_request SET status = 'approved', owner = ?, device_id = ? WHERE code = ?").run(owner, id, code);
      return this.device(id)!;
    })();
  }

  deny(code: string, owner: string): void {
    const row = this.pairing(code);
    if (this.statusOf(row) !== "pending") throw new ConsoleError(409, `pairing_${this.statusOf(row)}`, "This pairing is no longer pending.");
    this.db.prepare("UPDATE pairing_request SET status = 'denied', owner = ? WHERE code = ?").run(owner, code);
  }

  /**
   * The machine polls with its secret: pending, or (once) its device token. The pairing is
   * deleted when the token is handed out, so a second poll finds nothing.
   */
  poll(code: string, pollSecret: string): { status: "pending" } | { status: "approved"; device: Device; token: string } {
    const row = this.pairing(code);
    if (!sameHash(sha(String(pollSecret)), row.poll_hash)) throw new ConsoleError(403, "bad_poll_secret", "The poll secret does not match this pairing.");
    const status = this.statusOf(row);
    if (status === "pending") return { status };
    if (status !== "approved") throw new ConsoleError(status === "expired" ? 410 : 403, `pairing_${status}`, status === "expired" ? "The code expired before it was approved; pair again." : "The owner refused this pairing.");
    return this.db.transaction(() => {
      const token = `${TOKEN_PREFIX}.${row.device_id}.${secret()}`;
      this.db.prepare("UPDATE device SET token_hash = ? WHERE id = ? AND revoked_at IS NULL").run(sha(token), row.device_id);
      this.db.prepare("DELETE FROM pairing_request WHERE code = ?").run(code);
      const device = this.device(row.device_id!);
      if (!device || device.revokedAt !== null) throw new ConsoleError(403, "device_revoked", "The owner revoked this machine before it picked up its credential.");
      return { status: "approved" as const, device, token };
    })();
  }

  device(id: string): Device | undefined {
    const r = this.db.prepare<[string], DeviceRow>("SELECT * FROM device WHERE id = ?").get(id);
    return r ? toDevice(r) : undefined;
  }

  /** The device a token names (revoked ones too, so the refusal can say so). */
  byToken(token: string): Device | undefined {
    const r = this.db.prepare<[string], DeviceRow>("SELECT * FROM device WHERE token_hash = ?").get(sha(token));
    return r ? toDevice(r) : undefined;
  }

  list(owner: string): Device[] {
    return this.db.prepare<[string], DeviceRow>("SELECT * FROM device WHERE owner = ? AND revoked_at IS NULL ORDER BY created_at").all(owner).map(toDevice);
  }

  /** Revocation takes effect at once: every proxy request reads the row. */
  revoke(id: string, owner: string): void {
    const n = this.db.prepare("UPDATE device SET revoked_at = ? WHERE id = ? AND owner = ? AND revoked_at IS NULL").run(this.now(), id, owner).changes;
    if (n === 0) throw new ConsoleError(404, "no_such_device", "You have no paired machine with that id.");
  }

  /** Records a request's nonce; false when the device already used it (a replay). */
  useNonce(deviceId: string, nonce: string): boolean {
    const now = this.now();
    this.db.prepare("DELETE FROM device_nonce WHERE expires_at <= ?").run(now);
    return this.db.prepare("INSERT OR IGNORE INTO device_nonce (device_id, nonce, expires_at) VALUES (?, ?, ?)").run(deviceId, nonce, now + 2 * DEVICE_CLOCK_SKEW_MS).changes === 1;
  }

  touch(id: string): void {
    // Accurate to the minute: one write per device per minute at most.
    this.db.prepare("UPDATE device SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)").run(this.now(), id, this.now() - 60_000);
  }
}
