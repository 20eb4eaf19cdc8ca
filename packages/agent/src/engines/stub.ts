// The protocol's no-op engine: model id "stub", no output, 0/0 tokens, so a receipt for it is
// priced at 0 and the whole job/receipt pipeline can be exercised without any model.

import { validateRequest, type Engine, type GenerateRequest, type GenerateResult, type OnToken } from "./types.ts";

export const STUB_MODEL_ID = "stub";

export class StubEngine implements Engine {
  readonly kind = "stub" as const;

  models(): string[] {
    return [STUB_MODEL_ID];
  }

  async load(): Promise<void> {}

  async generate(req: GenerateRequest, _onToken: OnToken): Promise<GenerateResult> {
    validateRequest(req, this.models());
    if (req.signal?.aborted) return { text: "", tokensIn: 0, tokensOut: 0, finishReason: "abort" };
    return { text: "", tokensIn: 0, tokensOut: 0, finishReason: "stop" };
  }

  async close(): Promise<void> {}
}
