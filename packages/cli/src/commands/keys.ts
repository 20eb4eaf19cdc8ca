import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { generateKeyFile, KeyError, parseKeyFile, publicKeysOf } from "@cocore/protocol";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";

const help = `usage: cocore keys generate [--out FILE] [--force] [--json]
       cocore keys show FILE [--json]

generate   make a provider key pair set: a P-256 signing key (attestation publicKey) and an
           X25519 encryption key (attestation encryptionPubKey). With --out, writes the key file
           (mode 0600; refuses to overwrite without --force) and prints the public parts;
           without --out, prints the whole key file (secrets included) on stdout.
show       print the public parts of an existing key file.

Key file format (JSON, "format": "cocore-keys/1"): signing.privateKeyJwk is a P-256 JWK;
encryption.secretKey is standard base64 of the 32-byte X25519 secret key.`;

function generate(args: string[]): number {
  const { values, positionals } = parseFlags(args, { out: { type: "string" }, force: { type: "boolean" }, json: { type: "boolean" } });
  if (positionals.length > 0) throw new CliError(`unexpected argument ${positionals[0]}`);
  const file = generateKeyFile();
  if (values.out === undefined) {
    printJson(file);
    return 0;
  }
  try {
    // 'wx' refuses to clobber an existing key; a lost provider key cannot be recovered.
    writeFileSync(values.out, JSON.stringify(file, null, 2) + "\n", { mode: 0o600, flag: values.force ? "w" : "wx" });
    chmodSync(values.out, 0o600); // `mode` only applies when the file is created, not when --force replaces it
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new CliError(`${values.out} already exists (use --force to replace it)`);
    throw new CliError(`cannot write ${values.out}: ${code ?? String(err)}`);
  }
  printJson({ file: values.out, ...publicKeysOf(parseKeyFile(file)) });
  return 0;
}

function show(args: string[]): number {
  const { positionals } = parseFlags(args, { json: { type: "boolean" } });
  if (positionals.length !== 1) throw new CliError("expected exactly one key FILE");
  const path = positionals[0]!;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code ? `cannot read ${path}: ${code}` : `${path} is not valid JSON`);
  }
  try {
    printJson({ file: path, ...publicKeysOf(parseKeyFile(json)) });
  } catch (err) {
    if (err instanceof KeyError) throw new CliError(`${path}: ${err.message}`);
    throw err;
  }
  return 0;
}

export const command: Command = {
  summary: "generate or inspect a provider's signing and encryption keys",
  help,
  async run(args) {
    const [verb, ...rest] = args;
    if (verb === "generate") return generate(rest);
    if (verb === "show") return show(rest);
    throw new CliError(verb ? `unknown keys verb '${verb}' (generate | show)` : "expected a verb: generate | show");
  },
};
