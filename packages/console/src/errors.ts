// Every refusal the console's API makes: an HTTP status and a stable code the browser (and tests)
// can rely on, with a message meant for a person.
export class ConsoleError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const notSignedIn = () => new ConsoleError(401, "not_signed_in", "Sign in with your handle first.");
export const badRequest = (code: string, message: string) => new ConsoleError(400, code, message);
