// Publishing the brokerage key (the one the matchmaker countersigns dispatches with) in the
// dev.cocore.compute.brokerageKey record at rkey `self` of the matchmaker's own repo. A DID
// document would be the natural home, but the matchmaker's identity is a PDS account: changing its
// PLC document takes the rotation key, which the service does not hold. A record in its repo is
// just as public, signed by the same repo key, and reaches the exchange over the firehose.
import { getRecord, putRecord, type Agent } from "@cocore/atproto";
import { BROKERAGE_KEY_RKEY, NSID } from "@cocore/protocol";

const MAX_KEYS = 256;

/**
 * Adds `publicKey` (valid from `now`, ISO) to the record unless it is there already. Other keys
 * stay valid: several processes of one matchmaker account may be countersigning at once.
 */
export async function publishBrokerageKey(repo: Agent, publicKey: string, now: string): Promise<{ uri: string; cid: string }> {
  const did = repo.assertDid;
  for (let attempt = 0; ; attempt++) {
    const prev = await getRecord(repo, did, NSID.brokerageKey, BROKERAGE_KEY_RKEY);
    const keys = Array.isArray(prev?.value.keys) ? (prev.value.keys as Array<Record<string, unknown>>) : [];
    if (prev && keys.some((k) => k.publicKey === publicKey && k.validUntil === undefined)) return { uri: prev.uri, cid: prev.cid };
    if (keys.length >= MAX_KEYS) {
      throw new Error(`the brokerage key record already lists ${MAX_KEYS} keys; keep the key file (brokerage-key.jwk.json) rather than a fresh key per start`);
    }
    const value = { $type: NSID.brokerageKey, keys: [{ publicKey, sigScheme: "p256", validFrom: now }, ...keys], createdAt: typeof prev?.value.createdAt === "string" ? prev.value.createdAt : now };
    try {
      // swapRecord: two processes starting at once must not drop each other's key.
      return await putRecord(repo, NSID.brokerageKey, BROKERAGE_KEY_RKEY, value, { swapRecord: prev?.cid ?? null });
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
}
