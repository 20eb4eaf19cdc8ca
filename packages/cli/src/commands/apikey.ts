import { join } from "node:path";
import { KeyStore } from "@cocore/gateway";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";
import { configDir, loadSession } from "../requester.ts";

export function keyFilePath(): string {
  return process.env.COCORE_API_KEYS_FILE ?? join(configDir(), "gateway", "keys.json");
}

export const command: Command = {
  summary: "create, list or revoke API keys for the OpenAI-compatible gateway",
  help: `usage: cocore apikey create [--label L] [--json]
       cocore apikey list [--json]
       cocore apikey revoke ID

A key spends for the DID you are logged in as (\`cocore login\`). Only its SHA-256 is stored
(${"$"}XDG_CONFIG_HOME/cocore/gateway/keys.json, mode 0600), together with the session the gateway
uses to write your job records; the key itself is printed once.`,
  async run(args) {
    const [verb, ...rest] = args;
    const { values, positionals } = parseFlags(rest, { label: { type: "string" }, json: { type: "boolean" } });
    const store = new KeyStore(keyFilePath());
    switch (verb) {
      case "create": {
        const saved = loadSession();
        if (!saved) throw new CliError("not logged in; run `cocore login HANDLE` first (the key spends for that account)");
        store.setSession(saved.session.did, saved);
        const { key, entry } = store.create(saved.session.did, values.label);
        if (values.json) printJson({ key, id: entry.id, did: entry.did });
        else console.log(`${key}\n\nid ${entry.id}, bound to ${entry.did} (${saved.session.handle}). This is the only time the key is shown.`);
        return 0;
      }
      case "list": {
        const keys = store.list().map(({ hash: _h, ...k }) => k);
        if (values.json) printJson({ keys });
        else for (const k of keys) console.log(`${k.id}  ${k.did}  ${k.createdAt}  ${k.label ?? ""}`);
        return 0;
      }
      case "revoke": {
        const id = positionals[0];
        if (!id) throw new CliError("usage: cocore apikey revoke ID");
        if (!store.revoke(id)) throw new CliError(`no key with id ${id}`);
        console.log(`revoked ${id}`);
        return 0;
      }
      default:
        throw new CliError("usage: cocore apikey create|list|revoke (see --help)");
    }
  },
};
