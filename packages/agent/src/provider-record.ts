// The machine's dev.cocore.compute.provider record (seed 003). One record per machine, found by
// attestationPubKey; every write is read-modify-write guarded by swapRecord so that a field the
// owner edits between our read and our write (desiredModels, proBono, machineLabel, …) is never
// overwritten: the write fails, we read again and re-apply only the fields the agent owns.
import { createRecord, deleteRecord, getRecord, listRecords, putRecord, type Agent, type RecordEntry } from "@cocore/atproto";

export const PROVIDER_COLLECTION = "dev.cocore.compute.provider";

/**
 * Fields the agent writes. Everything else on the record (desiredModels, proBono,
 * acceptedExchanges, payoutsEnabled, active, machineLabel after creation, desiredTier, region…)
 * belongs to the owner and is carried over untouched.
 */
export const AGENT_FIELDS = [
  "chip",
  "ramGB",
  "os",
  "cpuCores",
  "supportedModels",
  "priceList",
  "encryptionPubKey",
  "attestationPubKey",
  "trustLevel",
  "provisioning",
  "serving",
  "binaryVersion",
  "engineFault",
  "advisorFault",
  "attestationFault",
  "contactEndpoint",
  "tier",
] as const;
export type AgentField = (typeof AGENT_FIELDS)[number];

/** A value per agent field; `undefined` removes the field (e.g. clearing engineFault). */
export type ProviderPatch = Partial<Record<AgentField, unknown>>;

export interface Fault {
  code: string;
  message: string;
  at: string;
  models?: string[];
}

const MAX_SWAP_ATTEMPTS = 8;

function isSwapConflict(err: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && typeof e === "object" && !seen.has(e)) {
    seen.add(e);
    const x = e as { error?: unknown; message?: unknown; cause?: unknown };
    if (x.error === "InvalidSwap" || (typeof x.message === "string" && /InvalidSwap|RecordAlreadyExists|already exists/i.test(x.message))) return true;
    e = x.cause;
  }
  return false;
}

export function mergeProviderValue(current: Record<string, unknown>, patch: ProviderPatch): Record<string, unknown> {
  const next: Record<string, unknown> = { ...current, $type: PROVIDER_COLLECTION };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  return next;
}

export class ProviderRecord {
  rkey: string | undefined;
  /** The last value we read or wrote. */
  current: RecordEntry | undefined;

  constructor(
    private readonly agent: Agent,
    readonly did: string,
    private readonly attestationPubKey: string,
  ) {}

  get uri(): string | undefined {
    return this.rkey ? `at://${this.did}/${PROVIDER_COLLECTION}/${this.rkey}` : undefined;
  }

  /**
   * Finds this machine's record (same attestationPubKey) and deletes any duplicates, keeping the
   * oldest rkey so that references to the machine stay stable across restarts.
   */
  async adopt(): Promise<{ rkey: string | undefined; deleted: string[] }> {
    const all = await listRecords(this.agent, this.did, PROVIDER_COLLECTION);
    const mine = all
      .filter((r) => r.value.attestationPubKey === this.attestationPubKey)
      .map((r) => ({ entry: r, rkey: r.uri.split("/").pop() ?? "" }))
      .sort((a, b) => (a.rkey < b.rkey ? -1 : a.rkey > b.rkey ? 1 : 0));
    const deleted: string[] = [];
    const keep = mine[0];
    for (const dup of mine.slice(1)) {
      await deleteRecord(this.agent, PROVIDER_COLLECTION, dup.rkey);
      deleted.push(dup.rkey);
    }
    this.rkey = keep?.rkey;
    this.current = keep?.entry;
    return { rkey: this.rkey, deleted };
  }

  async read(): Promise<RecordEntry | null> {
    if (!this.rkey) return null;
    const entry = await getRecord(this.agent, this.did, PROVIDER_COLLECTION, this.rkey);
    if (entry) this.current = entry;
    return entry;
  }

  /**
   * Applies `patch` to the record. `createOnly` supplies fields written only when the record is
   * first created (machineLabel, createdAt): after that they are the owner's.
   */
  async publish(patch: ProviderPatch, createOnly: Record<string, unknown>): Promise<RecordEntry> {
    for (let attempt = 0; attempt < MAX_SWAP_ATTEMPTS; attempt++) {
      const existing = await this.read();
      try {
        if (!existing) {
          const value = mergeProviderValue({ ...createOnly }, patch);
          const ref = this.rkey
            ? await createRecord(this.agent, PROVIDER_COLLECTION, value, { rkey: this.rkey })
            : await createRecord(this.agent, PROVIDER_COLLECTION, value);
          this.rkey = ref.uri.split("/").pop();
          this.current = { ...ref, value };
          return this.current;
        }
        const value = mergeProviderValue(existing.value, patch);
        const ref = await putRecord(this.agent, PROVIDER_COLLECTION, this.rkey!, value, { swapRecord: existing.cid });
        this.current = { ...ref, value };
        return this.current;
      } catch (err) {
        if (!isSwapConflict(err)) throw err;
        // Someone (the owner) wrote in between: read again and re-apply our fields.
      }
    }
    throw new Error(`provider record ${this.uri}: gave up after ${MAX_SWAP_ATTEMPTS} conflicting concurrent edits`);
  }
}
