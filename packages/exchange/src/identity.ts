// The exchange's settlement-signing key: a P-256 JWK in its state directory, created on first start
// (mode 0600). The account's repo key stays with its PDS; this key only signs settlements.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportSigningKey, generateSigningKey, importSigningKey, type P256PrivateJwk, type SigningKey } from "@cocore/protocol";

export const KEY_FILE = "exchange-key.json";

export function loadOrCreateKey(stateDir: string): SigningKey {
  mkdirSync(stateDir, { recursive: true });
  const file = join(stateDir, KEY_FILE);
  if (existsSync(file)) return importSigningKey(JSON.parse(readFileSync(file, "utf8")) as P256PrivateJwk);
  const key = generateSigningKey();
  writeFileSync(file, JSON.stringify(exportSigningKey(key), null, 2) + "\n", { mode: 0o600, flag: "wx" });
  return key;
}
