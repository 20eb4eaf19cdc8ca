// The matchmaker's calls to the exchange: admitJob before any dispatch (floor check + hold) and
// releaseHold when an admitted job ends without a receipt. Both are service-authenticated as the
// matchmaker's own DID (aud = exchange DID, lxm = the method).
import { createServiceJwt, getServiceAuthToken, type Agent, type Keypair } from "@cocore/atproto";
import { DispatchError } from "./codes.ts";

export const ADMIT_JOB = "dev.cocore.exchange.admitJob";
export const RELEASE_HOLD = "dev.cocore.exchange.releaseHold";

/** Mints a service JWT for one call. */
export type ServiceAuth = (aud: string, lxm: string) => Promise<string>;

/** Signs locally with the DID's atproto signing key (no round trip to the PDS per call). */
export function serviceAuthFromKeypair(did: string, keypair: Keypair): ServiceAuth {
  return (aud, lxm) => createServiceJwt({ issuerDid: did, audienceDid: aud, lxm, keypair, expiresInSeconds: 60 });
}

/** Asks the account's PDS to sign (com.atproto.server.getServiceAuth): works with only a session. */
export function serviceAuthFromAgent(agent: Agent): ServiceAuth {
  return (aud, lxm) => getServiceAuthToken(agent, aud, lxm, { expiresInSeconds: 60 });
}

export interface AdmitInput {
  job: { uri: string; cid: string };
  requester: string;
  priceCeiling: { amount: number; currency: string };
  expiresAt: string;
  /** Where the job is dispatched: the exchange pays a receipt for it from that machine only. */
  provider?: string;
  machineKey?: string;
}

export interface Admission {
  holdKey?: string;
  balance: number;
  available: number;
}

export interface ExchangeClientOptions {
  did: string;
  url: string;
  auth: ServiceAuth;
  timeoutMs?: number;
}

// Exchange error names (XRPC `error`) to our refusal codes.
const ERROR_NAMES: Record<string, string> = {
  BelowFloor: "below_floor",
  InsufficientBalance: "insufficient_balance",
  TermsNotAccepted: "terms_not_accepted",
  JobExpired: "job_expired",
  InvalidJob: "invalid_job",
  DuplicateJob: "job_already_dispatched",
  AuthRequired: "exchange_unavailable",
};

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

/** A spare token older than this is not used (tokens are minted valid for 60 s). */
const SPARE_MAX_AGE_MS = 30_000;
/** Spares are minted this long after a call, off the dispatch's critical path. */
const SPARE_DELAY_MS = 100;

export class ExchangeClient {
  // One pre-minted service JWT per method: minting signs with the DID's key (≈1 ms of CPU with a
  // local secp256k1 key, a PDS round trip with serviceAuthFromAgent), and admitJob is on every
  // dispatch's critical path. Each token is still used once (the exchange rejects a replayed jti).
  private readonly spares = new Map<string, { token: Promise<string>; at: number }>();
  private readonly spareTimers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly opts: ExchangeClientOptions) {}

  private token(lxm: string): Promise<string> {
    const spare = this.spares.get(lxm);
    this.spares.delete(lxm);
    if (!this.spareTimers.has(lxm)) {
      const timer = setTimeout(() => {
        this.spareTimers.delete(lxm);
        const token = this.opts.auth(this.opts.did, lxm);
        token.catch(() => this.spares.delete(lxm));
        this.spares.set(lxm, { token, at: Date.now() });
      }, SPARE_DELAY_MS);
      timer.unref();
      this.spareTimers.set(lxm, timer);
    }
    if (spare && Date.now() - spare.at < SPARE_MAX_AGE_MS) return spare.token.catch(() => this.opts.auth(this.opts.did, lxm));
    return this.opts.auth(this.opts.did, lxm);
  }

  get did(): string {
    return this.opts.did;
  }

  private async call(lxm: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    let token: string;
    try {
      token = await this.token(lxm);
    } catch (err) {
      throw new DispatchError("exchange_unavailable", `The matchmaker could not obtain service auth for the exchange: ${errText(err)}`);
    }
    let res: Response;
    try {
      res = await fetch(new URL(`/xrpc/${lxm}`, this.opts.url), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new DispatchError("exchange_unavailable", `The exchange at ${this.opts.url} did not answer (${errText(err)}).`);
    }
    let json: Record<string, unknown> = {};
    try {
      json = (await res.json()) as Record<string, unknown>;
    } catch {
      // an empty or non-JSON body; the status tells the rest
    }
    return { status: res.status, json };
  }

  /** Resolves on admission; throws a DispatchError with the exchange's reason otherwise. */
  async admit(input: AdmitInput): Promise<Admission> {
    const { status, json } = await this.call(ADMIT_JOB, input);
    if (status >= 200 && status < 300 && json.admitted === true) {
      return {
        holdKey: typeof json.holdKey === "string" ? json.holdKey : undefined,
        balance: Number(json.balance),
        available: Number(json.available),
      };
    }
    const details: Record<string, unknown> = {};
    for (const k of ["balance", "available", "nextRefreshAt", "tokenFloor", "termsVersion", "termsUri"]) if (json[k] !== undefined) details[k] = json[k];
    if (status >= 200 && status < 300) {
      const code = typeof json.code === "string" ? json.code : "admission_refused";
      throw new DispatchError(code, typeof json.message === "string" ? json.message : `The exchange refused the job (${code}).`, details);
    }
    const name = typeof json.error === "string" ? json.error : "";
    const code = typeof json.code === "string" ? json.code : (ERROR_NAMES[name] ?? (name ? snake(name) : "exchange_unavailable"));
    const message = typeof json.message === "string" && json.message ? json.message : `The exchange answered HTTP ${status} to admitJob.`;
    throw new DispatchError(code, message, details);
  }

  /** Best effort: a hold also lapses at its expiresAt, so failure here only delays the release. */
  async release(holdKey: string | undefined, job: { uri: string; cid: string }, reason: string): Promise<boolean> {
    try {
      // The lexicon caps reason at 64 characters; a longer one would be refused outright.
      const { status } = await this.call(RELEASE_HOLD, { ...(holdKey ? { holdKey } : {}), job: { uri: job.uri, cid: job.cid }, reason: reason.slice(0, 64) });
      return status >= 200 && status < 300;
    } catch {
      return false;
    }
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
