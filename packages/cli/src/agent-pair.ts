// `cocore agent pair`: pairs this machine with an owner's account through the web console, so
// `agent serve` runs with no password here. Prints a code and the console URL to approve it at,
// waits (a progress line, a timeout, Ctrl-C) and stores the device credential in the state dir.
import { hostname } from "node:os";
import { CliError, parseFlags, printJson } from "./command.ts";

export const PAIR_HELP = `usage: cocore agent pair --console URL [options]

Pairs this machine with your account without a password on it: prints a short code and a
console URL; open the URL where you are signed in to the console, check the code and the
machine's name, and approve. The machine then holds a credential (device.json in the state
directory, mode 0600) that writes only its own dev.cocore.compute.* records (provider,
attestation, receipts) through the console; revoke it on the console's Machines page.
Then run \`cocore agent serve\` with the same --state-dir and no --pds/--handle/--password.

options:
  --console URL      the web console that holds your sign-in (required)
  --state-dir DIR    the agent's state directory (default as for agent serve); the machine key
                     is created there if missing, and is what the console pairs
  --label TEXT       the machine's name shown to you when approving (default hostname)
  --timeout SECONDS  give up waiting after this long (default 600, the code's lifetime)
  --json             print one JSON document when paired (progress goes to stderr)`;

export interface PairIo {
  /** Progress and the code (stderr). */
  err(text: string): void;
  /** Whether err is a terminal (then the progress line is rewritten in place). */
  tty: boolean;
  /** Ends the wait like Ctrl-C does (tests); the command also listens for SIGINT itself. */
  signal?: AbortSignal;
}

const processIo = (): PairIo => ({ err: (t) => process.stderr.write(t), tty: process.stderr.isTTY === true });

function consoleUrl(value: string | undefined): string {
  if (!value) throw new CliError("--console URL is required (the web console you are signed in to)");
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new CliError(`--console must be a URL (got '${value}')`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CliError(`--console must be an http(s) URL (got '${value}')`);
  return u.origin + u.pathname.replace(/\/+$/, "");
}

function seconds(value: string | undefined): number {
  if (value === undefined) return 600;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError("--timeout must be a positive number of seconds");
  return n;
}

const clock = (ms: number) => `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}`;

export async function runAgentPair(args: string[], io: PairIo = processIo()): Promise<number> {
  const { values } = parseFlags(args, { console: { type: "string" }, "state-dir": { type: "string" }, label: { type: "string" }, timeout: { type: "string" }, json: { type: "boolean", default: false } }, false);
  const base = consoleUrl(values.console);
  const timeoutS = seconds(values.timeout);
  const label = (values.label ?? hostname()).trim().slice(0, 64);
  if (!label) throw new CliError("--label must not be empty");
  const { defaultStateDir, loadOrCreateState, pairMachine, PairingError, DEVICE_FILE, loadDeviceCredential } = await import("@cocore/agent");
  const stateDir = values["state-dir"] ?? defaultStateDir();
  const state = loadOrCreateState(stateDir);
  const before = (() => {
    try {
      return loadDeviceCredential(stateDir);
    } catch {
      return undefined;
    }
  })();
  if (before) io.err(`agent pair: ${stateDir}/${DEVICE_FILE} already pairs this machine with ${before.handle ?? before.owner} via ${before.console}; it is replaced once the new pairing is approved\n`);

  const stop = new AbortController();
  const onSigint = () => stop.abort(new PairingError("interrupted", "stopped with Ctrl-C before approval; the code was not used"));
  process.once("SIGINT", onSigint);
  const timer = setTimeout(() => stop.abort(new PairingError("pairing_timeout", `no approval within ${timeoutS} s; run cocore agent pair again for a new code`)), timeoutS * 1000);
  const onOuterAbort = () => stop.abort(new PairingError("interrupted", "pairing stopped"));
  io.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let progress: ReturnType<typeof setInterval> | undefined;
  try {
    const { credential, path } = await pairMachine({
      console: base,
      stateDir,
      signingKey: state.signingKey,
      label,
      signal: stop.signal,
      onCode: ({ code, approveUrl, expiresAt }) => {
        const key = state.signingKey.publicKey;
        io.err(`Pair this machine ("${label}") with your cocore account:\n  code  ${code}\n  key   ${key.slice(0, 10)}…${key.slice(-6)}\n  open  ${approveUrl}\nwhere you are signed in to the console, check the code and approve. Ctrl-C stops.\n`);
        const until = Math.min(Date.parse(expiresAt), Date.now() + timeoutS * 1000);
        let lines = 0;
        progress = setInterval(() => {
          const left = `waiting for approval… ${clock(Math.max(0, until - Date.now()))} left`;
          // A terminal gets one line rewritten in place; a log gets a line every 30 s.
          if (io.tty) io.err(`\r${left}  `);
          else if (++lines % 30 === 0) io.err(`${left}\n`);
        }, 1000);
      },
    });
    if (io.tty) io.err("\n");
    const who = credential.handle ? `@${credential.handle}` : credential.owner;
    io.err(`agent pair: paired as "${credential.label}" for ${who}; credential saved to ${path} (mode 0600)\nnow run: cocore agent serve${values["state-dir"] ? ` --state-dir ${stateDir}` : ""} [--matchmaker URL …] (no password needed)\n`);
    if (values.json) printJson({ deviceId: credential.deviceId, owner: credential.owner, ...(credential.handle ? { handle: credential.handle } : {}), console: credential.console, label: credential.label, credential: path });
    return 0;
  } catch (err) {
    if (io.tty && progress) io.err("\n");
    if (err instanceof PairingError) throw new CliError(`${err.code}: ${err.message}`, err.code === "interrupted" ? 130 : 1);
    throw err;
  } finally {
    clearInterval(progress);
    clearTimeout(timer);
    process.off("SIGINT", onSigint);
    io.signal?.removeEventListener("abort", onOuterAbort);
  }
}
