// Whether a `register` message proves what it claims: the machine key signed it, and — when the
// matchmaker can resolve identities — the attestation it names, fetched from the provider's own
// repo, holds (checked by the same code the client and the verifier use). The machine's trust
// level is derived from that attestation, never read from the message: an agent can say anything
// about itself.
import { getRecord, resolvePds, type IdResolver } from "@cocore/atproto";
import { canonicalBytes, checkAttestation, fromJsonRecord, NSID, trustLevelOf, verify, type TrustLevel } from "@cocore/protocol";
import type { RegisterMessage, StrongRef } from "@cocore/agent/matchmaker-protocol";

export interface RegistrationCheckOptions {
  /** Fetch and check the attestation record (off only for local testing: `--insecure`). */
  verifyAttestations: boolean;
  idResolver?: IdResolver;
  /** Registrations signed further in the past (or future) than this are refused. */
  maxClockSkewMs: number;
  now: () => number;
}

export interface Refusal {
  code: string;
  message: string;
}

export type RegistrationVerdict = { ok: true; trustLevel: TrustLevel } | { ok: false; refusal: Refusal };

const refuse = (code: string, message: string): RegistrationVerdict => ({ ok: false, refusal: { code, message } });

/** `challenge`: the nonce this connection was sent; the register must carry it, signed. */
export async function checkRegistration(msg: RegisterMessage, challenge: string, o: RegistrationCheckOptions): Promise<RegistrationVerdict> {
  const strings = [msg.providerDid, msg.machineId, msg.encryptionPubKey, msg.attestationPubKey, msg.at, msg.sig];
  if (strings.some((s) => typeof s !== "string") || !Array.isArray(msg.models) || !msg.attestation || typeof msg.attestation.uri !== "string") {
    return refuse("invalid_register", "The register message is missing required fields.");
  }
  // Before the signature: a replayed register is signed all right, just for another connection.
  if (msg.challenge !== challenge) {
    return refuse("challenge_mismatch", "The register does not answer this connection's challenge (a register is good for the connection it was signed on only).");
  }
  const at = Date.parse(msg.at);
  if (!Number.isFinite(at) || Math.abs(o.now() - at) > o.maxClockSkewMs) {
    return refuse("stale_register", "The register message's time is too far from the matchmaker's clock.");
  }
  const { sig, ...unsigned } = msg;
  let sigOk = false;
  try {
    sigOk = verify(msg.attestationPubKey, canonicalBytes(unsigned), Buffer.from(sig, "base64"));
  } catch {
    sigOk = false;
  }
  if (!sigOk) return refuse("bad_signature", "The register message is not signed by the machine's attestation key.");
  // Unverified, a machine is the least it can be: whatever it claims, it gets no job that asks for more.
  if (!o.verifyAttestations) return { ok: true, trustLevel: "self-attested" };
  return attestedLevel(msg.providerDid, msg.attestation, { encryptionPubKey: msg.encryptionPubKey, publicKey: msg.attestationPubKey }, o);
}

/**
 * The trust level `ref` establishes for `provider`'s machine holding `keys`, after fetching the
 * record from the provider's PDS and checking it (CID, repo, lexicon, self-signature, validity
 * now, the keys). Also used when an agent announces a renewed attestation.
 */
export async function attestedLevel(
  provider: string,
  ref: StrongRef,
  keys: { encryptionPubKey: string; publicKey: string },
  o: Pick<RegistrationCheckOptions, "idResolver" | "now">,
): Promise<RegistrationVerdict> {
  const parts = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(ref.uri);
  if (!parts || parts[1] !== provider || parts[2] !== NSID.attestation) {
    return refuse("bad_attestation", "The attestation must be a dev.cocore.compute.attestation record in the provider's own repo.");
  }
  if (!o.idResolver) return refuse("bad_attestation", "The matchmaker cannot resolve provider identities.");
  let value: Record<string, unknown>;
  try {
    const rec = await getRecord(await resolvePds(o.idResolver, provider), provider, parts[2], parts[3]!);
    if (!rec) return refuse("bad_attestation", `The attestation ${ref.uri} does not exist.`);
    value = fromJsonRecord(rec.value) as Record<string, unknown>;
  } catch (err) {
    return refuse("attestation_unreachable", `Could not fetch the attestation: ${err instanceof Error ? err.message : String(err)}`);
  }
  const problems = checkAttestation({ uri: ref.uri, ...(typeof ref.cid === "string" ? { cid: ref.cid } : {}), value }, { provider, at: o.now(), ...keys });
  const first = problems[0];
  if (first) {
    const code = first.code === "attestation-expired" ? "attestation_expired" : "bad_attestation";
    return refuse(code, `The machine's attestation does not hold: ${problems.map((p) => p.message).join("; ")}.`);
  }
  return { ok: true, trustLevel: trustLevelOf(value) };
}
