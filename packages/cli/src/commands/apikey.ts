import { join } from "node:path";
import { isExpired, KeyStore } from "@cocore/gateway";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";
import { configDir, loadSession } from "../requester.ts";

export function keyFilePath(): string {
  return process.env.COCORE_API_KEYS_FILE ?? join(configDir(), "gateway", "keys.json");
}

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `--expires`: a duration from now (30m, 12h, 90d, 2w) or an ISO date/time; must be in the future. */
export function parseExpiry(value: string, nowMs: number): Date {
  const m = /^(\d+)([mhdw])$/.exec(value.trim());
  const at = m ? nowMs + Number(m[1]) * UNITS[m[2]!]! : Date.parse(value);
  if (!Number.isFinite(at)) throw new CliError(`--expires takes a duration (30m, 12h, 90d, 2w) or an ISO date/time, got '${value}'`);
  if (at <= nowMs) throw new CliError(`--expires ${value} is not in the future`);
  return new Date(at);
}

export const command: Command = {
  summary: "create, list or revoke API keys for the OpenAI-compatible gateway",
  help: `usage: cocore apikey create [--name N] [--expires 90d|ISO] [--json]
       cocore apikey list [--json]
       cocore apikey revoke ID [--json]

A key spends for the DID you are logged in as (\`cocore login\`); it is printed once. Files, both
mode 0600 (directory ${"$"}XDG_CONFIG_HOME/cocore/gateway/, or the one of ${"$"}COCORE_API_KEYS_FILE):
  keys.json      each key's SHA-256, name, DID, creation, expiry and last use (never a session)
  sessions.json  the PDS session the gateway acts with, one per DID; removed when the DID's last
                 key is revoked (or has expired, at the next create or revoke)

  --name N        a name to recognise the key by (default: your handle)
  --expires WHEN  refuse the key after WHEN: a duration (30m, 12h, 90d, 2w) or an ISO date/time
                  (default: no expiry)

\`list\` shows each key's creation, last use (recorded to the minute) and expiry.`,
  async run(args) {
    const [verb, ...rest] = args;
    const { values, positionals } = parseFlags(rest, { name: { type: "string" }, label: { type: "string" }, expires: { type: "string" }, json: { type: "boolean" } });
    // One instant for the whole command, so `--expires 30d` is exactly 30 days after createdAt.
    const now = Date.now();
    const store = new KeyStore(keyFilePath(), { now: () => now });
    switch (verb) {
      case "create": {
        const saved = loadSession();
        if (!saved) throw new CliError("not logged in; run `cocore login HANDLE` first (the key spends for that account)");
        const expiresAt = values.expires === undefined ? undefined : parseExpiry(values.expires, now);
        const name = values.name ?? values.label ?? saved.session.handle;
        const { key, entry } = store.create(saved.session.did, name, { expiresAt, session: saved });
        if (values.json) printJson({ key, id: entry.id, name: entry.name, did: entry.did, createdAt: entry.createdAt, expiresAt: entry.expiresAt ?? null });
        else {
          const expiry = entry.expiresAt ? `, expires ${entry.expiresAt}` : "";
          console.log(`${key}\n\nid ${entry.id} "${entry.name}", bound to ${entry.did} (${saved.session.handle})${expiry}. This is the only time the key is shown.`);
        }
        return 0;
      }
      case "list": {
        const keys = store.list().map((k) => ({
          id: k.id,
          name: k.name,
          did: k.did,
          createdAt: k.createdAt,
          lastUsedAt: k.lastUsedAt ?? null,
          expiresAt: k.expiresAt ?? null,
          expired: isExpired(k, now),
        }));
        if (values.json) printJson({ keys });
        else if (keys.length === 0) console.log("no API keys (create one with `cocore apikey create`)");
        else {
          const rows = [
            ["ID", "NAME", "DID", "CREATED", "LAST USED", "EXPIRES"],
            ...keys.map((k) => [k.id, k.name, k.did, k.createdAt, k.lastUsedAt ?? "never", k.expiresAt ? `${k.expiresAt}${k.expired ? " (expired)" : ""}` : "never"]),
          ];
          const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
          for (const r of rows) console.log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  "));
        }
        return 0;
      }
      case "revoke": {
        const id = positionals[0];
        if (!id) throw new CliError("usage: cocore apikey revoke ID");
        const entry = store.list().find((k) => k.id === id);
        const hadSession = entry !== undefined && store.session(entry.did) !== undefined;
        if (!entry || !store.revoke(id)) throw new CliError(`no key with id ${id}`);
        const sessionRemoved = hadSession && store.session(entry.did) === undefined;
        if (values.json) printJson({ revoked: id, did: entry.did, sessionRemoved });
        else console.log(`revoked ${id}${sessionRemoved ? ` (the session for ${entry.did} was removed with it)` : hadSession ? ` (${entry.did} has other keys; its session stays)` : ""}`);
        return 0;
      }
      default:
        throw new CliError("usage: cocore apikey create|list|revoke (see --help)");
    }
  },
};
