// What a provider agent may send on its socket, checked before anything acts on it: one text frame,
// one JSON object, a known `type`, and each field of that type the kind the protocol says
// (packages/agent/src/matchmaker-protocol.ts). A frame that fails is answered, never acted on, so
// garbage from an agent — a buggy one or a hostile one — cannot touch the registry, a queue or a
// job. Unknown fields stay ignored (the protocol evolves additively). Pure: no I/O.
import { AGENT_PROTOCOL_VERSION, type AgentToMatchmaker } from "@cocore/agent/matchmaker-protocol";

/** Why a frame was not acted on (the `code` of the `ignored` answer). */
export type IgnoredCode = "bad_message" | "unknown_type" | "not_registered" | "already_registered";

export type AgentInput =
  | { ok: true; msg: AgentToMatchmaker }
  /** `type`/`jobUri`: what the frame said it was, when it said so (a malformed register is refused; a malformed job message fails that job). */
  | { ok: false; code: "bad_message" | "unknown_type"; message: string; type?: string; jobUri?: string };

type Kind = (v: unknown) => boolean;

// Identifiers (DIDs, URIs, machine ids, keys) are short; output frames are bounded by the socket's message cap.
const MAX_ID = 2048;
const MAX_LIST = 1024;

const str: Kind = (v) => typeof v === "string";
const id: Kind = (v) => typeof v === "string" && v.length > 0 && v.length <= MAX_ID;
const num: Kind = (v) => typeof v === "number" && Number.isFinite(v);
const count: Kind = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const bool: Kind = (v) => typeof v === "boolean";
const plain = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const ids: Kind = (v) => Array.isArray(v) && v.length <= MAX_LIST && v.every(id);
const oneOf = (...values: string[]): Kind => (v) => typeof v === "string" && values.includes(v);
const shape = (fields: Record<string, Kind>): Kind => (v) => plain(v) && Object.entries(fields).every(([k, kind]) => kind(v[k]));
const mapOf = (kind: Kind): Kind => (v) => plain(v) && Object.keys(v).length <= MAX_LIST && Object.values(v).every(kind);
const ref = shape({ uri: id, cid: id });
const engineState = oneOf("ready", "loading", "fault");
const capabilities = shape({ tools: bool, structuredOutput: bool, contextLength: num });

interface Fields {
  required: Record<string, Kind>;
  optional?: Record<string, Kind>;
}

const MESSAGES: Record<AgentToMatchmaker["type"], Fields> = {
  register: {
    required: {
      protocolVersion: num, providerDid: id, machineId: id, models: ids, trustLevel: id, engineState, version: str,
      encryptionPubKey: id, attestationPubKey: id, attestation: ref, at: id, challenge: id, sig: id,
    },
    optional: {
      providerRecord: str, engineFault: shape({ code: str, message: str }), attestationExpiresAt: str, acceptedExchanges: ids,
      capacity: num, capacityByModel: mapOf(num), capabilitiesByModel: mapOf(capabilities), resumes: bool,
    },
  },
  heartbeat: {
    required: {},
    optional: {
      at: str, models: ids, engineState, activeJobs: num, capacityByModel: mapOf(num), capabilitiesByModel: mapOf(capabilities),
      attestation: ref, attestationExpiresAt: str,
    },
  },
  accepted: { required: { jobUri: id } },
  chunk: { required: { jobUri: id, seq: count, sealed: (v) => typeof v === "string" && v.length > 0 } },
  done: {
    required: {
      jobUri: id, receipt: shape({ uri: id, cid: id, written: bool }), tokens: shape({ in: count, out: count }),
      price: shape({ amount: num, currency: id }), proBono: bool, outputCommitment: id, outputCipherCommitment: id,
      finishReason: oneOf("stop", "length", "cancelled"), startedAt: id, completedAt: id,
    },
  },
  error: { required: { jobUri: id, code: id, message: str } },
  resume: { required: { jobUri: id, next: count } },
  bye: { required: {}, optional: { reason: str } },
};

/** Checks one text frame from an agent. Never throws. */
export function parseAgentFrame(text: string): AgentInput {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, code: "bad_message", message: "The frame is not JSON." };
  }
  if (!plain(v)) return { ok: false, code: "bad_message", message: "The frame is not a JSON object." };
  const type = v.type;
  if (typeof type !== "string") return { ok: false, code: "bad_message", message: "The message has no string `type`." };
  const jobUri = typeof v.jobUri === "string" ? v.jobUri : undefined;
  if (!Object.hasOwn(MESSAGES, type)) return { ok: false, code: "unknown_type", message: `Unknown message type ${JSON.stringify(type.slice(0, 64))}.`, type };
  // A register of another protocol version is answered by its version (protocol_version), whatever its fields.
  if (type === "register" && v.protocolVersion !== AGENT_PROTOCOL_VERSION) return { ok: true, msg: v as unknown as AgentToMatchmaker };
  const { required, optional = {} } = MESSAGES[type as AgentToMatchmaker["type"]];
  for (const [field, kind] of Object.entries(required)) {
    if (!kind(v[field])) return bad(type, jobUri, `${field} is ${v[field] === undefined ? "missing" : "not what the protocol says"}`);
  }
  for (const [field, kind] of Object.entries(optional)) {
    if (v[field] !== undefined && !kind(v[field])) return bad(type, jobUri, `${field} is not what the protocol says`);
  }
  return { ok: true, msg: v as unknown as AgentToMatchmaker };
}

function bad(type: string, jobUri: string | undefined, what: string): AgentInput {
  return { ok: false, code: "bad_message", message: `Malformed ${type} message: ${what}.`, type, ...(jobUri !== undefined && { jobUri }) };
}
