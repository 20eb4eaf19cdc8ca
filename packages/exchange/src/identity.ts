// The exchange's settlement-signing key: a P-256 JWK in its state directory (mode 0600). The
// account's repo key stays with its PDS; this key only signs settlements, and the policy publishes
// its public half, so a settlement verifies offline under the policy it names.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportSigningKey, generateSigningKey, importSigningKey, type P256PrivateJwk, type SigningKey } from "@cocore/protocol";

export const KEY_FILE = "exchange-key.json";

/** The key file is missing under a ledger that has already settled with some key. */
export class MissingKeyError extends Error {
  override readonly name = "MissingKeyError";
}

/**
 * The key in `stateDir`. A missing file is created only for a fresh ledger, or when `newKey` says
 * so (a key rotation: the old file, if any, is kept beside as exchange-key.<time>.json); a ledger
 * in use without its key refuses to start, since settling on would quietly change the key its
 * records are signed with.
 */
export function loadOrCreateKey(stateDir: string, opts: { ledgerInUse?: boolean; newKey?: boolean } = {}): SigningKey {
  mkdirSync(stateDir, { recursive: true });
  const file = join(stateDir, KEY_FILE);
  const present = existsSync(file);
  if (present && !opts.newKey) return importSigningKey(JSON.parse(readFileSync(file, "utf8")) as P256PrivateJwk);
  if (!present && opts.ledgerInUse && !opts.newKey) {
    throw new MissingKeyError(`the settlement key ${file} is missing but the ledger is in use; restore it, or start with --new-key to sign from now on with a new key (published as a new policy)`);
  }
  if (present) renameSync(file, join(stateDir, `exchange-key.${new Date().toISOString().replace(/[:.]/g, "-")}.json`));
  const key = generateSigningKey();
  writeFileSync(file, JSON.stringify(exportSigningKey(key), null, 2) + "\n", { mode: 0o600, flag: "wx" });
  return key;
}
