// An API key made in the console spends through the member's OAuth session held by the console
// (there is no password session to give the gateway). The gateway's sessions file records this
// marker for such a DID, and a gateway running beside the console asks the console for a client.
export interface ConsoleKeySession {
  kind: "console-oauth";
  /** The console that holds the OAuth session. */
  console: string;
}

export function consoleKeySession(origin: string): ConsoleKeySession {
  return { kind: "console-oauth", console: origin };
}

export function isConsoleKeySession(v: unknown): v is ConsoleKeySession {
  return !!v && typeof v === "object" && (v as { kind?: unknown }).kind === "console-oauth";
}
