import { login } from "@cocore/atproto";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";
import { explainLoginError, saveSession, sessionPath } from "../requester.ts";

async function readPassword(): Promise<string> {
  if (process.env.COCORE_PASSWORD) return process.env.COCORE_PASSWORD;
  if (process.stdin.isTTY) process.stderr.write("app password: ");
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if (process.stdin.isTTY && String(c).includes("\n")) break;
  }
  return Buffer.concat(chunks).toString("utf8").split("\n")[0]!.trim();
}

export const command: Command = {
  summary: "log in as a requester (handle + app password); the session is saved for `run` and `balance`",
  help: `usage: cocore login HANDLE [--pds URL] [--password PW] [--matchmaker URL] [--exchange URL] [--plc URL] [--json]

Logs in to your PDS and stores the session in $XDG_CONFIG_HOME/cocore/session.json (mode 0600).
The password is read from --password, else COCORE_PASSWORD, else stdin. Use an app password.
--matchmaker / --exchange / --plc are remembered for later commands (\`cocore up\` prints them).`,
  async run(args) {
    const { values, positionals } = parseFlags(args, {
      pds: { type: "string" },
      password: { type: "string" },
      matchmaker: { type: "string" },
      exchange: { type: "string" },
      plc: { type: "string" },
      json: { type: "boolean" },
    });
    const handle = positionals[0];
    if (!handle) throw new CliError("usage: cocore login HANDLE [--pds URL]");
    const pds = values.pds ?? process.env.COCORE_PDS ?? "https://bsky.social";
    const password = values.password ?? (await readPassword());
    if (!password) throw new CliError("no password given (--password, COCORE_PASSWORD or stdin)");
    let agent;
    try {
      agent = await login(pds, handle, password);
    } catch (err) {
      explainLoginError(err, handle, pds);
    }
    if (!agent.session) throw new CliError("the PDS returned no session");
    saveSession({ pds, session: agent.session, matchmaker: values.matchmaker, exchangeUrl: values.exchange, plc: values.plc });
    if (values.json) printJson({ did: agent.assertDid, handle: agent.session.handle, pds, sessionFile: sessionPath() });
    else console.log(`logged in as ${agent.session.handle} (${agent.assertDid}); session saved to ${sessionPath()}`);
    return 0;
  },
};
