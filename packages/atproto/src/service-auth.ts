// atproto service auth: short-lived JWTs signed with the issuer's repo signing key, bound to one
// audience DID and one XRPC method (lxm).
import type { Agent } from "@atproto/api";
import type { Keypair } from "@atproto/crypto";
import { createServiceJwt as xrpcCreateServiceJwt, verifyJwt } from "@atproto/xrpc-server";
import { AtprotoError, describe, isXrpcError, wrapRequestError } from "./errors.ts";
import { resolveSigningKey, type IdResolver } from "./identity.ts";

export type { Keypair } from "@atproto/crypto";

export interface CreateServiceJwtParams {
  issuerDid: string;
  audienceDid: string;
  /** The XRPC method the token is good for; null makes it valid for any method (avoid). */
  lxm: string | null;
  /** The key the issuer's DID document lists as its atproto signing key. */
  keypair: Keypair;
  /** Default 60. */
  expiresInSeconds?: number;
}

export function createServiceJwt(p: CreateServiceJwtParams): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return xrpcCreateServiceJwt({
    iss: p.issuerDid,
    aud: p.audienceDid,
    lxm: p.lxm,
    keypair: p.keypair,
    iat,
    exp: iat + (p.expiresInSeconds ?? 60),
  });
}

export interface VerifyServiceJwtOptions {
  /** Our own DID: tokens for anyone else are refused. */
  audienceDid: string;
  /** The method being called: tokens bound to another method are refused. */
  lxm: string;
  idResolver: IdResolver;
  /** When given, each jti is accepted once (until its token expires). */
  replayGuard?: ReplayGuard;
}

export interface VerifiedServiceJwt {
  /** The issuer DID (any `#service` fragment removed). */
  iss: string;
  aud: string;
  lxm?: string;
  exp: number;
  jti?: string;
}

/** Verifies a service JWT and returns the issuer DID. Throws AtprotoError code "jwt_invalid"/"jwt_replayed". */
export async function verifyServiceJwt(jwt: string, opts: VerifyServiceJwtOptions): Promise<string> {
  return (await verifyServiceJwtPayload(jwt, opts)).iss;
}

/** Like verifyServiceJwt, returning the checked claims. */
export async function verifyServiceJwtPayload(jwt: string, opts: VerifyServiceJwtOptions): Promise<VerifiedServiceJwt> {
  let payload;
  try {
    payload = await verifyJwt(jwt, opts.audienceDid, opts.lxm, (iss, forceRefresh) =>
      resolveSigningKey(opts.idResolver, issuerDid(iss), forceRefresh),
    );
  } catch (err) {
    const reason = isXrpcError(err) ? err.message : describe(err);
    throw new AtprotoError("jwt_invalid", `service JWT refused: ${reason}`, { cause: err });
  }
  const iss = issuerDid(payload.iss);
  if (opts.replayGuard) {
    if (!payload.jti) throw new AtprotoError("jwt_invalid", "service JWT refused: no jti (required for replay protection)");
    if (!(await opts.replayGuard.check(`${iss} ${payload.jti}`, payload.exp))) {
      throw new AtprotoError("jwt_replayed", "service JWT refused: this token was already used");
    }
  }
  return { iss, aud: payload.aud, lxm: payload.lxm, exp: payload.exp, jti: payload.jti };
}

function issuerDid(iss: string): string {
  const hash = iss.indexOf("#");
  return hash === -1 ? iss : iss.slice(0, hash);
}

/**
 * Where used JWT ids are remembered. `check` records `jti` as used until `exp` (epoch seconds) and
 * answers whether it was new; it must decide atomically (of two concurrent checks of one unexpired
 * jti, one passes), and may be asynchronous so that the memory can be a database shared by
 * processes and kept across restarts (the exchange's `seen_jtis` table).
 */
export interface ReplayGuard {
  check(jti: string, exp: number): boolean | Promise<boolean>;
}

/**
 * Remembers used JWT ids in memory until their tokens expire: one memory per process, so a token
 * could be replayed once against each process (or after a restart) within its short lifetime.
 * Services that restart or run several processes want a shared ReplayGuard instead.
 */
export class JtiReplayGuard implements ReplayGuard {
  private readonly seen = new Map<string, number>();
  private nextSweep = 0;

  constructor(private readonly now: () => number = () => Date.now() / 1000) {}

  /** Records `jti` (valid until `exp`, in epoch seconds); false if it was already used. */
  check(jti: string, exp: number): boolean {
    const t = this.now();
    if (t >= this.nextSweep) this.sweep(t);
    const known = this.seen.get(jti);
    if (known !== undefined && known >= t) return false;
    this.seen.set(jti, exp);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private sweep(t: number): void {
    for (const [jti, exp] of this.seen) if (exp < t) this.seen.delete(jti);
    this.nextSweep = t + 30;
  }
}

/** A service JWT from the account's PDS (it signs with the account's key), via getServiceAuth. */
export async function getServiceAuthToken(
  agent: Agent,
  aud: string,
  lxm: string,
  opts: { expiresInSeconds?: number } = {},
): Promise<string> {
  try {
    const exp = opts.expiresInSeconds === undefined ? undefined : Math.floor(Date.now() / 1000) + opts.expiresInSeconds;
    const res = await agent.com.atproto.server.getServiceAuth({ aud, lxm, exp });
    return res.data.token;
  } catch (err) {
    throw wrapRequestError(`getServiceAuth for ${aud} ${lxm}`, "the PDS", err);
  }
}
