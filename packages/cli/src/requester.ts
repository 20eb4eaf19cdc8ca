// The requester's saved session (`cocore login`) and the SDK client built from it. The session
// file holds refresh tokens, so it is written 0600 in a 0700 directory.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { AtpAgent, type AtpSessionData } from "@atproto/api";
import { AtprotoError } from "@cocore/atproto";
import { CocoreClient } from "@cocore/client";
import { CliError } from "./command.ts";

export interface SavedSession {
  pds: string;
  session: AtpSessionData;
  matchmaker?: string;
  exchangeUrl?: string;
  plc?: string;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.length > 0 ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(base, "cocore");
}

export function sessionPath(): string {
  return process.env.COCORE_SESSION_FILE ?? join(configDir(), "session.json");
}

export function saveSession(s: SavedSession): void {
  const path = sessionPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(s, null, 2), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function loadSession(): SavedSession | undefined {
  const path = sessionPath();
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as SavedSession;
  } catch {
    throw new CliError(`the session file ${path} is unreadable; run \`cocore login\` again`);
  }
}

/** A logged-in agent from the saved session; refreshed tokens are written back. */
export async function resumeAgent(saved: SavedSession): Promise<AtpAgent> {
  const agent = new AtpAgent({
    service: saved.pds,
    persistSession: (evt, session) => {
      if ((evt === "create" || evt === "update") && session) saveSession({ ...saved, session });
    },
  });
  try {
    await agent.resumeSession(saved.session);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/fetch failed|ECONNREFUSED/i.test(msg) || (err as { status?: number }).status === 1) {
      throw new CliError(`cannot reach your PDS at ${saved.pds}; is it running?`);
    }
    throw new CliError(`your saved session is no longer valid (${msg}); run \`cocore login\` again`);
  }
  return agent;
}

export interface EndpointFlags {
  matchmaker?: string;
  exchange?: string;
}

/** The SDK client for the logged-in requester; endpoints from flags, then env, then the session file. */
export async function requesterClient(flags: EndpointFlags, needMatchmaker = true): Promise<{ client: CocoreClient; saved: SavedSession }> {
  const saved = loadSession();
  if (!saved) throw new CliError("not logged in; run `cocore login HANDLE` first");
  const matchmakerUrl = flags.matchmaker ?? process.env.COCORE_MATCHMAKER ?? saved.matchmaker;
  const exchangeUrl = flags.exchange ?? process.env.COCORE_EXCHANGE ?? saved.exchangeUrl;
  if (!matchmakerUrl && needMatchmaker) throw new CliError("no matchmaker URL: pass --matchmaker URL (or set COCORE_MATCHMAKER, or log in with --matchmaker)");
  if (!exchangeUrl) throw new CliError("no exchange URL: pass --exchange URL (or set COCORE_EXCHANGE, or log in with --exchange)");
  const agent = await resumeAgent(saved);
  return { client: new CocoreClient({ agent, matchmakerUrl: matchmakerUrl ?? "http://matchmaker.not-configured.invalid", exchangeUrl, plcUrl: saved.plc, userAgent: "cocore-cli/0.1.0" }), saved };
}

/** One-line explanations for the atproto package's error codes. */
export function explainLoginError(err: unknown, handle: string, pds: string): never {
  if (err instanceof AtprotoError) {
    switch (err.code) {
      case "service_unreachable":
        throw new CliError(`cannot reach the PDS at ${pds}; check the URL (--pds) and that it is running`);
      case "account_not_found":
        throw new CliError(`no account '${handle}' on ${pds}; check the handle (local accounts end in .test)`);
      case "invalid_password":
        throw new CliError(`wrong password for ${handle}; use an app password (Settings → App passwords)`);
      default:
        throw new CliError(err.message);
    }
  }
  throw err;
}
