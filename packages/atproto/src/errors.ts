// One error type for everything this package reports, so callers (the CLI especially) can
// switch on a stable `code` instead of parsing messages from several @atproto libraries.

export type AtprotoErrorCode =
  | "service_unreachable"
  | "account_not_found"
  | "invalid_password"
  | "account_unavailable"
  | "login_failed"
  | "record_not_found"
  | "request_failed"
  | "repo_verification_failed"
  | "identity_unresolved"
  | "jwt_invalid"
  | "jwt_replayed"
  | "network_start_failed";

export class AtprotoError extends Error {
  override readonly name = "AtprotoError";
  constructor(
    readonly code: AtprotoErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

interface XrpcLikeError {
  status: number;
  error: string;
  message: string;
}

/** Duck-typed so we need not care which copy of @atproto/xrpc threw it. */
export function isXrpcError(err: unknown): err is XrpcLikeError {
  return (
    err instanceof Error &&
    typeof (err as Partial<XrpcLikeError>).status === "number" &&
    typeof (err as Partial<XrpcLikeError>).error === "string"
  );
}

/** True when the request never got an HTTP answer (refused, DNS, reset). */
export function isNetworkFailure(err: unknown): boolean {
  if (isXrpcError(err)) return err.status === 1; // ResponseType.Unknown: no response at all
  if (err instanceof TypeError && /fetch failed/i.test(err.message)) return true;
  const code = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === "string" && /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH)$/.test(code);
}

export function describe(err: unknown): string {
  if (isXrpcError(err)) return `${err.error}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Wraps an unexpected failure of an XRPC call, keeping unreachable services distinguishable. */
export function wrapRequestError(what: string, service: string, err: unknown): AtprotoError {
  if (err instanceof AtprotoError) return err;
  if (isNetworkFailure(err)) {
    return new AtprotoError("service_unreachable", `${what}: cannot reach ${service}`, { cause: err });
  }
  return new AtprotoError("request_failed", `${what} failed: ${describe(err)}`, { cause: err });
}
