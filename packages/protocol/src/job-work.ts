// What a job asks of the work beyond its model and prompt (PROTOCOL.md §3: outputSchema, tools,
// toolChoice, toolChoiceFunction) and how a receipt states that its run honoured it: receipt
// `params.outputSchemaHash` / `params.toolSchemaHash` are SHA-256 hex of the canonical JSON
// (PROTOCOL.md §4) of the job's `outputSchema` object and of its `tools` array. A verifier holding
// the job recomputes both, so a receipt that claims a schema the job did not ask for, or omits
// one it did, is not the work the requester paid for.
import { canonicalBytes, CanonicalError } from "./canonical.ts";
import { sha256Hex } from "./commitment.ts";

export type ToolChoice = "auto" | "none" | "required";

/** The job fields that shape the work. */
export interface JobWork {
  outputSchema?: { name?: string; strict?: boolean; schema?: Record<string, unknown> };
  tools?: Array<{ type: string; function: { name: string; description?: string; parameters?: Record<string, unknown> } }>;
  toolChoice?: string;
  toolChoiceFunction?: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** The job's work fields, tolerating schema-invalid input (schema problems are reported elsewhere). */
export function jobWork(job: Record<string, unknown>): JobWork {
  const w: JobWork = {};
  if (isObject(job.outputSchema)) w.outputSchema = job.outputSchema as JobWork["outputSchema"];
  if (Array.isArray(job.tools)) w.tools = job.tools as JobWork["tools"];
  if (typeof job.toolChoice === "string") w.toolChoice = job.toolChoice;
  if (typeof job.toolChoiceFunction === "string") w.toolChoiceFunction = job.toolChoiceFunction;
  return w;
}

/** Whether the model is offered tools at all: some tools, and a choice other than "none". */
export function offersTools(w: JobWork): boolean {
  return (w.tools?.length ?? 0) > 0 && (w.toolChoice !== "none" || w.toolChoiceFunction !== undefined);
}

function hashOf(value: unknown): string | undefined {
  try {
    return sha256Hex(canonicalBytes(value));
  } catch (err) {
    if (err instanceof CanonicalError) return undefined;
    throw err;
  }
}

/** receipt params.outputSchemaHash for this job; undefined when it has no outputSchema. */
export function outputSchemaHash(job: Record<string, unknown>): string | undefined {
  const w = jobWork(job);
  return w.outputSchema === undefined ? undefined : hashOf(w.outputSchema);
}

/** receipt params.toolSchemaHash for this job; undefined when it offers no tools. */
export function toolSchemaHash(job: Record<string, unknown>): string | undefined {
  const w = jobWork(job);
  return w.tools === undefined || w.tools.length === 0 ? undefined : hashOf(w.tools);
}

/**
 * Problems with what `receiptParams` states about the job's schema and tools: each hash must be
 * present exactly when the job has the field, and equal to the job's.
 */
export function workProblems(job: Record<string, unknown>, receiptParams: unknown): string[] {
  const params = isObject(receiptParams) ? receiptParams : {};
  const problems: string[] = [];
  const pairs = [
    ["outputSchemaHash", outputSchemaHash(job), "outputSchema"],
    ["toolSchemaHash", toolSchemaHash(job), "tools"],
  ] as const;
  for (const [field, expected, jobField] of pairs) {
    const stated = params[field];
    if (expected === undefined && stated !== undefined) problems.push(`receipt params.${field} is set but the job has no ${jobField}`);
    else if (expected !== undefined && stated !== expected) {
      problems.push(`receipt params.${field} is ${stated === undefined ? "missing" : JSON.stringify(stated)}; the job's ${jobField} hashes to ${expected}`);
    }
  }
  return problems;
}
