import { readFileSync } from "node:fs";
import { BundleError, normalizeBundle, verifyReceipt, type VerifyOptions } from "@cocore/protocol";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";

/** One line, whatever the underlying error looked like (the exit-2 contract). */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

function readBundle(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${path}: ${code ?? oneLine(String(err))}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${path} is not valid JSON: ${oneLine(err instanceof Error ? err.message : String(err))}`);
  }
}

export const command: Command = {
  summary: "verify a receipt bundle offline (receipt + job + attestation [+ authorization, policy])",
  help: `usage: cocore verify BUNDLE.json [--at ISO-TIME] [--exchange DID] [--json]

Checks a receipt against the job, attestation, payment authorization and exchange policy in
BUNDLE.json: { "receipt", "job", "attestation", "paymentAuthorization"?, "policy"?,
"brokerageKey"? }, each a record value as stored on the PDS, optionally wrapped as
{ "uri", "cid", "value" }. With "brokerageKey" (the dev.cocore.compute.brokerageKey record of the
matchmaker that countersigned the receipt) the receipt's brokerageCountersignature is checked too.

  --at ISO-TIME    verification time for the attestation window and authorization expiry
                   (default: the receipt's completedAt)
  --exchange DID   the settling exchange (default: policy.exchange, else paymentAuthorization.exchange)
  --json           accepted for uniformity; the output is always JSON

Prints { "ok": bool, "findings": [{ "code", "message" }] }.
Exit status: 0 verified, 1 not verified, 2 the input could not be read.`,
  async run(args) {
    const { values, positionals } = parseFlags(args, {
      at: { type: "string" },
      exchange: { type: "string" },
      json: { type: "boolean" },
    });
    if (positionals.length !== 1) throw new CliError("expected exactly one BUNDLE.json argument (see cocore verify --help)");
    const path = positionals[0]!;
    const options: VerifyOptions = {};
    if (values.at !== undefined) {
      if (Number.isNaN(Date.parse(values.at))) throw new CliError(`--at ${values.at} is not an ISO 8601 time`);
      options.at = values.at;
    }
    if (values.exchange !== undefined) options.exchange = values.exchange;
    let bundle;
    try {
      bundle = normalizeBundle(readBundle(path));
    } catch (err) {
      if (err instanceof BundleError) throw new CliError(`${path}: ${oneLine(err.message)}`);
      throw err;
    }
    const result = verifyReceipt(bundle, options);
    printJson({ ok: result.ok, findings: result.findings });
    return result.ok ? 0 : 1;
  },
};
