import { audit, AuditInputError, type AuditReport } from "@cocore/auditor";
import { isValidPublicKey } from "@cocore/protocol";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";

const DEFAULT_PLC = "https://plc.directory";

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

export const command: Command = {
  summary: "re-derive an exchange's balances and settlements from public records and report differences",
  help: `usage: cocore audit --exchange DID [--pds URL…] [--plc URL] [--exchange-url URL]
                    [--exchange-key BASE64] [--member DID…] [--grace-seconds N] [--json]

Fetches the exchange's repo (policy, settlements, grants, refreshes, patronage) and every member
repo those records name, each as a getRepo CAR verified against its DID's signing key; re-verifies
every settled receipt; re-derives every balance, settlement amount and patronage share with the
exchange's ledger rules; prints each discrepancy with a stable code (packages/auditor/README.md).

  --exchange DID       the exchange to audit (required)
  --pds URL            a PDS to fetch repos from first (repeatable; default: each DID's own PDS)
  --plc URL            PLC directory for DID resolution (default ${DEFAULT_PLC})
  --exchange-url URL   the exchange's XRPC base URL: also compare its public balances
  --exchange-key B64   a settlement public key to accept besides those its policies publish
  --member DID         another member repo to include (repeatable)
  --grace-seconds N    how late a settlement or patronage distribution may be (default 600)
  --json               print the report as one JSON document

Exit status: 0 no discrepancies, 1 discrepancies, 2 unreadable input or an unreachable service.`,
  async run(args) {
    const { values } = parseFlags(
      args,
      {
        exchange: { type: "string" },
        pds: { type: "string", multiple: true },
        plc: { type: "string" },
        "exchange-url": { type: "string" },
        "exchange-key": { type: "string" },
        member: { type: "string", multiple: true },
        "grace-seconds": { type: "string" },
        json: { type: "boolean" },
      },
      false,
    );
    const exchangeDid = values.exchange;
    if (!exchangeDid) throw new CliError("--exchange DID is required (see cocore audit --help)");
    if (!/^did:[a-z]+:\S+$/.test(exchangeDid)) throw new CliError(`--exchange ${exchangeDid} is not a DID`);
    for (const url of [...(values.pds ?? []), values.plc, values["exchange-url"]]) {
      if (url !== undefined && !/^https?:\/\/\S+$/.test(url)) throw new CliError(`${url} is not an http(s) URL`);
    }
    const key = values["exchange-key"];
    if (key !== undefined && !isValidPublicKey(key)) throw new CliError("--exchange-key is not standard base64 of a 64-byte P-256 point");
    let graceMs: number | undefined;
    if (values["grace-seconds"] !== undefined) {
      const n = Number(values["grace-seconds"]);
      if (!Number.isInteger(n) || n < 0) throw new CliError(`--grace-seconds ${values["grace-seconds"]} is not a non-negative integer`);
      graceMs = n * 1000;
    }
    let report: AuditReport;
    try {
      report = await audit({
        exchangeDid,
        plcUrl: values.plc ?? DEFAULT_PLC,
        pdsUrls: values.pds ?? [],
        exchangeUrl: values["exchange-url"],
        exchangePublicKey: key,
        extraDids: values.member ?? [],
        graceMs,
      });
    } catch (err) {
      if (err instanceof AuditInputError) throw new CliError(oneLine(err.message));
      if (err instanceof Error && err.name === "AtprotoError") throw new CliError(oneLine(err.message));
      throw err;
    }
    if (values.json) printJson(report);
    else printReport(report);
    return report.ok ? 0 : 1;
  },
};

function printReport(r: AuditReport): void {
  const s = r.stats;
  console.log(`audit of ${r.exchange}: ${r.ok ? "no discrepancies ✓" : `${r.discrepancies.length} discrepancies`}`);
  console.log(`  policy ${r.policy}`);
  console.log(
    `  ${s.receipts} settled receipts re-verified, ${s.settlements} settlements, ${s.grants} grants, ${s.refreshes} refreshes, ${s.patronage} patronage shares, ${s.members} member repos, ${s.seconds} s`,
  );
  if (!r.signaturesChecked) console.log("  settlement signatures not checked (no --exchange-key)");
  if (!r.balancesCompared) console.log("  the exchange's own balances not compared (no --exchange-url)");
  for (const d of r.discrepancies) console.log(`  ${d.code}  ${d.subject}\n      ${d.message}`);
  for (const w of r.warnings) console.log(`  warning ${w.code}  ${w.subject}\n      ${w.message}`);
}
