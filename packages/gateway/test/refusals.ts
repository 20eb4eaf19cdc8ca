// The parameters this gateway does not serve, each with the code it is refused with: shared by
// the parser's own test and the end-to-end one over HTTP.

export const weather = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } };

/** Every refusal this gateway makes for a parameter it does not serve, with the code it names. */
export const REFUSALS: Array<[string, Record<string, unknown>, string]> = [
  ["n > 1", { n: 2 }, "n_unsupported"],
  ["logprobs", { logprobs: true }, "logprobs_unsupported"],
  ["top_logprobs", { top_logprobs: 3 }, "logprobs_unsupported"],
  ["audio output", { audio: { voice: "alloy", format: "wav" } }, "audio_unsupported"],
  ["audio modality", { modalities: ["text", "audio"] }, "audio_unsupported"],
  ["logit_bias", { logit_bias: { "50256": -100 } }, "logit_bias_unsupported"],
  ["prediction", { prediction: { type: "content", content: "x" } }, "prediction_unsupported"],
  ["functions (deprecated)", { functions: [{ name: "f" }] }, "functions_unsupported"],
  ["function_call (deprecated)", { function_call: "auto" }, "functions_unsupported"],
  ["web search", { web_search_options: {} }, "web_search_unsupported"],
  ["store", { store: true }, "store_unsupported"],
  ["metadata", { metadata: { a: "b" } }, "store_unsupported"],
  ["service_tier flex", { service_tier: "flex" }, "service_tier_unsupported"],
  ["reasoning_effort", { reasoning_effort: "high" }, "reasoning_effort_unsupported"],
  ["verbosity", { verbosity: "low" }, "verbosity_unsupported"],
  ["prompt_cache_key", { prompt_cache_key: "k" }, "prompt_cache_unsupported"],
  ["safety_identifier", { safety_identifier: "u" }, "safety_identifier_unsupported"],
  ["an image part", { messages: [{ role: "user", content: [{ type: "text", text: "what is" }, { type: "image_url", image_url: { url: "https://x/y.png" } }] }] }, "image_input_unsupported"],
  ["an audio part", { messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "", format: "wav" } }] }] }, "audio_unsupported"],
  ["a file part", { messages: [{ role: "user", content: [{ type: "file", file: { file_id: "f" } }] }] }, "file_input_unsupported"],
  ["an unknown part", { messages: [{ role: "user", content: [{ type: "video" }] }] }, "unsupported_content_part"],
  ["a participant name", { messages: [{ role: "user", content: "hi", name: "bob" }] }, "unsupported_parameter"],
  ["role function", { messages: [{ role: "function", name: "f", content: "1" }] }, "functions_unsupported"],
  ["custom tools", { tools: [{ type: "custom", custom: { name: "x" } }] }, "unsupported_tool_type"],
  ["allowed_tools choice", { tools: [weather], tool_choice: { type: "allowed_tools", allowed_tools: { mode: "auto", tools: [] } } }, "unsupported_tool_choice"],
  ["stop with tools", { tools: [weather], stop: ["x"] }, "unsupported_parameter"],
  ["stop with json", { response_format: { type: "json_object" }, stop: "x" }, "unsupported_parameter"],
  ["strict schema with pattern", { response_format: { type: "json_schema", json_schema: { name: "a", strict: true, schema: { type: "object", properties: { s: { type: "string", pattern: "^a" } } } } } }, "unsupported_schema_feature"],
  ["schema with allOf", { response_format: { type: "json_schema", json_schema: { name: "a", schema: { allOf: [{ type: "object" }] } } } }, "unsupported_schema_feature"],
  ["schema with a fraction", { response_format: { type: "json_schema", json_schema: { name: "a", schema: { type: "number", maximum: 0.5 } } } }, "unsupported_schema_feature"],
  ["tool parameters with allOf", { tools: [{ type: "function", function: { name: "f", parameters: { allOf: [] } } }] }, "unsupported_schema_feature"],
  ["an unknown parameter", { frobnicate: 1 }, "unknown_parameter"],
];
