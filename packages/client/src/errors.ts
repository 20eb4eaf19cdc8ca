/** A failure the requester can act on: `code` is stable (the matchmaker's refusal codes and ours). */
export class ClientError extends Error {
  override readonly name = "ClientError";
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
