import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { KeyStore } from "../src/index.ts";

const dir = mkdtempSync(join(tmpdir(), "cocore-keys-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("a key created through one store (cocore apikey) works in another already open on the file (the gateway)", () => {
  const path = join(dir, "gateway", "keys.json");
  const gateway = new KeyStore(path);
  const own = gateway.create("did:plc:up", "cocore up").key;
  const cli = new KeyStore(path);
  const { key, entry } = cli.create("did:plc:user", "mine");
  assert.equal(gateway.lookup(key)?.did, "did:plc:user");
  // The CLI's write kept the gateway's own key rather than overwriting it.
  assert.equal(gateway.lookup(own)?.did, "did:plc:up");
  assert.equal(statSync(path).mode & 0o777, 0o600);
  // A revoke elsewhere is seen too, and a later write by the gateway does not bring the key back.
  assert.equal(cli.revoke(entry.id), true);
  assert.equal(gateway.lookup(key), undefined);
  gateway.setSession("did:plc:up", { any: 1 });
  assert.equal(new KeyStore(path).lookup(key), undefined);
  assert.equal(new KeyStore(path).lookup(own)?.did, "did:plc:up");
});
