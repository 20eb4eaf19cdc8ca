// The agent's durable local state: its P-256 signing key, its X25519 encryption key and the salt of
// its serial-number hash. Generated on first run and reused afterwards, because the signing key
// is the machine's identity (the provider record's attestationPubKey, PROTOCOL.md §3) — a new key
// would make the same machine look like a new one. Files are written 0600 in a 0700 directory.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { generateKeyFile, parseKeyFile, type EncryptionKeyPair, type SigningKey } from "@cocore/protocol";

/** The protocol's key file format (cocore-keys/1), so `cocore keys show` reads it too. */
export const KEY_FILE = "keys.json";
export const SALT_FILE = "serial-salt";
export const RECEIPT_QUEUE_FILE = "receipts.jsonl";

export interface AgentState {
  dir: string;
  signingKey: SigningKey;
  encryption: EncryptionKeyPair;
  /** Hex salt mixed into serialNumberHash so the hash cannot be matched against known serials. */
  serialSalt: string;
  /** True when this run created the keys. */
  created: boolean;
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.length > 0 ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(base, "cocore", "agent");
}

/** Write a secret file atomically with mode 0600 (a crash never leaves half a key behind). */
export function writeSecretFile(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function loadOrCreateState(dir: string): AgentState {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  let created = false;

  const keyPath = join(dir, KEY_FILE);
  let keys;
  if (existsSync(keyPath)) {
    keys = parseKeyFile(JSON.parse(readFileSync(keyPath, "utf8")));
  } else {
    const file = generateKeyFile();
    writeSecretFile(keyPath, JSON.stringify(file, null, 2) + "\n");
    keys = parseKeyFile(file);
    created = true;
  }
  const signingKey: SigningKey = keys.signing;
  const encryption: EncryptionKeyPair = keys.encryption;

  const saltPath = join(dir, SALT_FILE);
  let serialSalt: string;
  if (existsSync(saltPath)) {
    serialSalt = readFileSync(saltPath, "utf8").trim();
  } else {
    serialSalt = randomBytes(32).toString("hex");
    writeSecretFile(saltPath, serialSalt + "\n");
  }

  return { dir, signingKey, encryption, serialSalt, created };
}
