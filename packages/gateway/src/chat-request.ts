// The body of POST /v1/chat/completions, validated once, here: every parameter OpenAI defines is
// either served or refused with a named code — none is silently ignored (README, "The gateway").
// Pure and total: `parseChatRequest` returns an error for anything it cannot serve and never
// throws, whatever JSON value it is given.
import { schemaProblem, type Schema } from "@cocore/protocol";
import type { JobInput, JobWorkFields } from "@cocore/client";

export interface ChatRequest {
  model: string;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage. */
  includeUsage: boolean;
  /** max_completion_tokens (or max_tokens); undefined: the gateway's default. */
  maxTokens: number | undefined;
  /** The sealed job input, except maxTokens. */
  input: JobInput & { messages: NonNullable<JobInput["messages"]> };
  work: JobWorkFields | undefined;
  /** OpenAI's end-user id: checked, and used for nothing (it is not forwarded to the provider). */
  user: string | undefined;
}

export interface ChatRequestError {
  status: 400;
  type: "invalid_request_error";
  code: string;
  message: string;
  param: string | null;
}

export type ParseResult = { ok: true; request: ChatRequest } | { ok: false; error: ChatRequestError };

/** OpenAI parameters cocore does not serve: the code each is refused with. */
export const UNSUPPORTED_PARAMETERS: Record<string, string> = {
  logprobs: "logprobs_unsupported",
  top_logprobs: "logprobs_unsupported",
  audio: "audio_unsupported",
  modalities: "audio_unsupported",
  logit_bias: "logit_bias_unsupported",
  prediction: "prediction_unsupported",
  functions: "functions_unsupported",
  function_call: "functions_unsupported",
  web_search_options: "web_search_unsupported",
  store: "store_unsupported",
  metadata: "store_unsupported",
  service_tier: "service_tier_unsupported",
  reasoning_effort: "reasoning_effort_unsupported",
  verbosity: "verbosity_unsupported",
  prompt_cache_key: "prompt_cache_unsupported",
  safety_identifier: "safety_identifier_unsupported",
};

/** The request fields cocore reads (`n` only as 1). */
export const SERVED_PARAMETERS = [
  "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop",
  "presence_penalty", "frequency_penalty", "user", "tools", "tool_choice", "parallel_tool_calls", "response_format", "n",
] as const;

const KNOWN = new Set<string>([...SERVED_PARAMETERS, ...Object.keys(UNSUPPORTED_PARAMETERS)]);

/** OpenAI's rule for function and schema names. */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_TOOLS = 128;
const utf8 = new TextEncoder();

class Refusal {
  constructor(
    readonly code: string,
    readonly message: string,
    readonly param: string | null,
  ) {}
}

function refuse(code: string, message: string, param: string | null = null): never {
  throw new Refusal(code, message, param);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function number(v: unknown, param: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) refuse("invalid_value", `${param} must be a number from ${min} to ${max}.`, param);
  return v;
}

function milli(v: number | undefined): number | undefined {
  return v === undefined ? undefined : Math.round(v * 1000);
}

type Message = ChatRequest["input"]["messages"][number];

/** Text of a message's content: a string or text parts (other parts are refused by kind). */
function contentText(content: unknown, param: string, nullable: boolean): string {
  if (typeof content === "string") return content;
  if ((content === null || content === undefined) && nullable) return "";
  if (!Array.isArray(content)) refuse("invalid_content", `${param} must be a string or an array of content parts.`, param);
  let text = "";
  content.forEach((part, i) => {
    const at = `${param}[${i}]`;
    const type = isObject(part) ? part.type : undefined;
    if (type === "text") {
      if (typeof part.text !== "string") refuse("invalid_content", `${at}.text must be a string.`, `${at}.text`);
      text += part.text;
    } else if (type === "image_url" || type === "image") refuse("image_input_unsupported", `${at}: image input is not supported; the models served here read text only.`, at);
    else if (type === "input_audio" || type === "audio") refuse("audio_unsupported", `${at}: audio input is not supported.`, at);
    else if (type === "file") refuse("file_input_unsupported", `${at}: file input is not supported.`, at);
    else refuse("unsupported_content_part", `${at}: content parts of type ${JSON.stringify(type ?? null)} are not supported (only "text").`, at);
  });
  return text;
}

function parseMessages(raw: unknown): Message[] {
  if (!Array.isArray(raw) || raw.length === 0) refuse("missing_messages", "`messages` must be a non-empty array.", "messages");
  const calls = new Set<string>();
  return raw.map((m, i): Message => {
    const at = `messages[${i}]`;
    if (!isObject(m)) refuse("invalid_value", `${at} must be an object.`, at);
    if (m.role === "function") refuse("functions_unsupported", `${at}: role "function" is deprecated; use tools and role "tool".`, `${at}.role`);
    for (const k of Object.keys(m)) {
      if (!["role", "content", "tool_calls", "tool_call_id", "refusal"].includes(k)) {
        refuse(k === "name" ? "unsupported_parameter" : "unknown_parameter", `${at}.${k} is not supported.`, `${at}.${k}`);
      }
    }
    const role = m.role;
    if (role === "system" || role === "developer" || role === "user") {
      if (m.tool_calls !== undefined || m.tool_call_id !== undefined) refuse("invalid_value", `${at}: only assistant turns carry tool_calls, only tool turns a tool_call_id.`, at);
      return { role: role === "developer" ? "system" : role, content: contentText(m.content, `${at}.content`, false) };
    }
    if (role === "assistant") {
      if (m.refusal !== undefined && m.refusal !== null) refuse("unsupported_parameter", `${at}.refusal is not supported.`, `${at}.refusal`);
      if (m.tool_call_id !== undefined) refuse("invalid_value", `${at}: only tool turns carry a tool_call_id.`, `${at}.tool_call_id`);
      const toolCalls = m.tool_calls === undefined || m.tool_calls === null ? undefined : parseAssistantCalls(m.tool_calls, `${at}.tool_calls`);
      for (const c of toolCalls ?? []) calls.add(c.id);
      const content = contentText(m.content, `${at}.content`, toolCalls !== undefined);
      return { role: "assistant", content, ...(toolCalls && { toolCalls }) };
    }
    if (role === "tool") {
      if (typeof m.tool_call_id !== "string" || !calls.has(m.tool_call_id)) {
        refuse("invalid_value", `${at}: a tool message answers a call made by an earlier assistant turn; its tool_call_id must name one.`, `${at}.tool_call_id`);
      }
      return { role: "tool", content: contentText(m.content, `${at}.content`, false), toolCallId: m.tool_call_id };
    }
    return refuse("invalid_role", `${at}.role must be system, developer, user, assistant or tool.`, `${at}.role`);
  });
}

function parseAssistantCalls(raw: unknown, at: string): NonNullable<Message["toolCalls"]> {
  if (!Array.isArray(raw) || raw.length === 0) refuse("invalid_value", `${at} must be a non-empty array.`, at);
  return raw.map((c, j) => {
    const p = `${at}[${j}]`;
    const fn = isObject(c) ? c.function : undefined;
    if (!isObject(c) || c.type !== "function" || typeof c.id !== "string" || c.id === "" || !isObject(fn) || typeof fn.name !== "string" || typeof fn.arguments !== "string") {
      refuse("invalid_value", `${p} must be {id, type: "function", function: {name, arguments}} with arguments as a JSON string.`, p);
    }
    return { id: c.id, name: fn.name as string, arguments: fn.arguments as string };
  });
}

function parseTools(raw: unknown): NonNullable<JobWorkFields["tools"]> {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_TOOLS) refuse("invalid_tools", `tools must be an array of 1 to ${MAX_TOOLS} functions.`, "tools");
  const names = new Set<string>();
  return raw.map((t, i) => {
    const at = `tools[${i}]`;
    if (!isObject(t)) refuse("invalid_tools", `${at} must be an object.`, at);
    if (t.type !== "function") refuse("unsupported_tool_type", `${at}: only tools of type "function" are supported.`, `${at}.type`);
    const fn = t.function;
    if (!isObject(fn) || typeof fn.name !== "string" || !NAME.test(fn.name)) refuse("invalid_tools", `${at}.function.name must match ${NAME.source}.`, `${at}.function.name`);
    if (names.has(fn.name)) refuse("invalid_tools", `${at}: two tools are named ${fn.name}.`, `${at}.function.name`);
    names.add(fn.name);
    for (const k of Object.keys(fn)) if (!["name", "description", "parameters", "strict"].includes(k)) refuse("unknown_parameter", `${at}.function.${k} is not supported.`, `${at}.function.${k}`);
    if (fn.description !== undefined && (typeof fn.description !== "string" || utf8.encode(fn.description).length > 4096)) refuse("invalid_tools", `${at}.function.description must be a string of at most 4096 bytes (UTF-8).`, `${at}.function.description`);
    if (fn.strict !== undefined && typeof fn.strict !== "boolean") refuse("invalid_tools", `${at}.function.strict must be a boolean.`, `${at}.function.strict`);
    if (fn.parameters !== undefined) schemaOk(fn.parameters, fn.strict === true, `${at}.function.parameters`);
    return {
      type: "function" as const,
      function: { name: fn.name, ...(typeof fn.description === "string" && { description: fn.description }), ...(fn.parameters !== undefined && { parameters: fn.parameters as Schema }) },
    };
  });
}

function schemaOk(schema: unknown, strict: boolean, param: string): void {
  const p = schemaProblem(schema, { strict });
  if (p) refuse("unsupported_schema_feature", `${param}${p.path}: ${p.message.replace(/^[^:]*: /, "")} (README: "JSON-schema features").`, `${param}${p.path}`);
}

function parseToolChoice(raw: unknown, tools: JobWorkFields["tools"]): Pick<JobWorkFields, "toolChoice" | "toolChoiceFunction"> {
  if (raw === undefined || raw === null) return {};
  if (!tools) refuse("invalid_value", "tool_choice is only allowed together with tools.", "tool_choice");
  if (raw === "auto" || raw === "none" || raw === "required") return { toolChoice: raw };
  const fn = isObject(raw) ? raw.function : undefined;
  if (isObject(raw) && raw.type === "function" && isObject(fn) && typeof fn.name === "string") {
    if (!tools.some((t) => t.function.name === fn.name)) refuse("invalid_tool_choice", `tool_choice names ${fn.name}, which is not among the tools.`, "tool_choice");
    return { toolChoice: "required", toolChoiceFunction: fn.name };
  }
  if (isObject(raw) && (raw.type === "allowed_tools" || raw.type === "custom")) refuse("unsupported_tool_choice", `tool_choice of type ${String(raw.type)} is not supported.`, "tool_choice");
  return refuse("invalid_tool_choice", 'tool_choice must be "auto", "none", "required" or {type: "function", function: {name}}.', "tool_choice");
}

function parseResponseFormat(raw: unknown): JobWorkFields["outputSchema"] {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) refuse("invalid_response_format", "response_format must be an object.", "response_format");
  if (raw.type === "text") return undefined;
  // A free-form object, as OpenAI's JSON mode answers; the engine bounds it (support.ts).
  if (raw.type === "json_object") return { name: "json_object", strict: false, schema: { type: "object" } };
  if (raw.type !== "json_schema") refuse("invalid_response_format", 'response_format.type must be "text", "json_object" or "json_schema".', "response_format.type");
  const js = raw.json_schema;
  if (!isObject(js) || typeof js.name !== "string" || !NAME.test(js.name)) refuse("invalid_response_format", `response_format.json_schema.name must match ${NAME.source}.`, "response_format.json_schema.name");
  for (const k of Object.keys(js)) if (!["name", "description", "schema", "strict"].includes(k)) refuse("unknown_parameter", `response_format.json_schema.${k} is not supported.`, `response_format.json_schema.${k}`);
  if (js.strict !== undefined && js.strict !== null && typeof js.strict !== "boolean") refuse("invalid_response_format", "response_format.json_schema.strict must be a boolean.", "response_format.json_schema.strict");
  const strict = js.strict === true;
  const schema = js.schema === undefined ? { type: "object" } : js.schema;
  schemaOk(schema, strict, "response_format.json_schema.schema");
  return { name: js.name, strict, schema: schema as Schema };
}

function parseStop(raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const list = typeof raw === "string" ? [raw] : raw;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === "string" && s.length > 0)) refuse("invalid_value", "stop must be a string or up to 4 non-empty strings.", "stop");
  return list.length > 0 ? (list as string[]) : undefined;
}

function parse(body: unknown): ChatRequest {
  if (!isObject(body)) refuse("invalid_request", "The request body must be a JSON object.");
  for (const k of Object.keys(body)) if (!KNOWN.has(k)) refuse("unknown_parameter", `Unrecognized request argument supplied: ${k}.`, k);
  for (const [k, code] of Object.entries(UNSUPPORTED_PARAMETERS)) {
    const v = body[k];
    // The values that ask for nothing are accepted: they change nothing.
    const asksNothing = v === undefined || v === null || v === false || (k === "top_logprobs" && v === 0) || (k === "logit_bias" && isObject(v) && Object.keys(v).length === 0) ||
      (k === "modalities" && Array.isArray(v) && v.length === 1 && v[0] === "text") || (k === "service_tier" && (v === "auto" || v === "default"));
    if (!asksNothing) refuse(code, `${k} is not supported by this gateway.`, k);
  }
  if (typeof body.model !== "string" || body.model === "" || body.model.length > 256) refuse("missing_model", "`model` is required (at most 256 characters).", "model");
  const messages = parseMessages(body.messages);
  if (body.n !== undefined && body.n !== null && body.n !== 1) refuse("n_unsupported", "n must be 1: one choice per request.", "n");
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") refuse("invalid_value", "stream must be a boolean.", "stream");
  const stream = body.stream === true;
  let includeUsage = false;
  if (body.stream_options !== undefined && body.stream_options !== null) {
    const so = body.stream_options;
    if (!stream) refuse("invalid_value", "stream_options is only allowed with stream: true.", "stream_options");
    if (!isObject(so) || Object.keys(so).some((k) => k !== "include_usage") || (so.include_usage !== undefined && typeof so.include_usage !== "boolean")) {
      refuse("invalid_value", "stream_options takes only include_usage (a boolean).", "stream_options");
    }
    includeUsage = so.include_usage === true;
  }
  const maxParams = (["max_completion_tokens", "max_tokens"] as const).filter((k) => body[k] !== undefined && body[k] !== null);
  for (const k of maxParams) if (!Number.isSafeInteger(body[k]) || (body[k] as number) < 1) refuse("invalid_max_tokens", `${k} must be a positive integer.`, k);
  if (maxParams.length === 2 && body.max_tokens !== body.max_completion_tokens) refuse("invalid_max_tokens", "max_tokens and max_completion_tokens differ; give one.", "max_tokens");
  const maxTokens = maxParams.length > 0 ? (body[maxParams[0]!] as number) : undefined;
  const temperature = number(body.temperature, "temperature", 0, 2);
  const topP = number(body.top_p, "top_p", 0, 1);
  const presence = number(body.presence_penalty, "presence_penalty", -2, 2);
  const frequency = number(body.frequency_penalty, "frequency_penalty", -2, 2);
  if (body.seed !== undefined && body.seed !== null && (!Number.isSafeInteger(body.seed) || (body.seed as number) < 0)) refuse("invalid_value", "seed must be a non-negative integer.", "seed");
  if (body.user !== undefined && body.user !== null && (typeof body.user !== "string" || body.user.length > 256)) refuse("invalid_value", "user must be a string of at most 256 characters.", "user");
  const tools = body.tools === undefined || body.tools === null ? undefined : parseTools(body.tools);
  const choice = parseToolChoice(body.tool_choice, tools);
  if (body.parallel_tool_calls !== undefined && body.parallel_tool_calls !== null && typeof body.parallel_tool_calls !== "boolean") refuse("invalid_value", "parallel_tool_calls must be a boolean.", "parallel_tool_calls");
  if (body.parallel_tool_calls !== undefined && body.parallel_tool_calls !== null && !tools) refuse("invalid_value", "parallel_tool_calls is only allowed together with tools.", "parallel_tool_calls");
  const outputSchema = parseResponseFormat(body.response_format);
  const stop = parseStop(body.stop);
  const offered = tools !== undefined && (choice.toolChoice !== "none" || choice.toolChoiceFunction !== undefined);
  if (stop && (offered || outputSchema)) refuse("unsupported_parameter", "stop cannot be combined with tools or a JSON response_format: it would cut the JSON.", "stop");
  const work: JobWorkFields | undefined = tools || outputSchema ? { ...(outputSchema && { outputSchema }), ...(tools && { tools }), ...choice } : undefined;
  const input: ChatRequest["input"] = {
    messages,
    ...(temperature !== undefined && { temperatureMilli: milli(temperature)! }),
    ...(topP !== undefined && { topPMilli: milli(topP)! }),
    ...(body.seed !== undefined && body.seed !== null && { seed: body.seed as number }),
    ...(stop && { stop }),
    ...(presence !== undefined && presence !== 0 && { presencePenaltyMilli: milli(presence)! }),
    ...(frequency !== undefined && frequency !== 0 && { frequencyPenaltyMilli: milli(frequency)! }),
    ...(typeof body.parallel_tool_calls === "boolean" && { parallelToolCalls: body.parallel_tool_calls }),
  };
  return { model: body.model, stream, includeUsage, maxTokens, input, work, user: typeof body.user === "string" ? body.user : undefined };
}

export function parseChatRequest(body: unknown): ParseResult {
  try {
    return { ok: true, request: parse(body) };
  } catch (err) {
    if (err instanceof Refusal) return { ok: false, error: { status: 400, type: "invalid_request_error", code: err.code, message: err.message, param: err.param } };
    // Nothing above should throw anything else; if it does, the body is still the client's to fix.
    return { ok: false, error: { status: 400, type: "invalid_request_error", code: "invalid_request", message: "The request body could not be read.", param: null } };
  }
}
