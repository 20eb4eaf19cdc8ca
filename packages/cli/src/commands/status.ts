// `cocore status`: the matchmaker's public queue view (GET /v1/status) — per model, who serves it,
// how many slots are busy, how many jobs wait and how long a new one would.
import type { MatchmakerStatus } from "@cocore/matchmaker/wire";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";
import { loadSession } from "../requester.ts";

/** Where `cocore up` serves its matchmaker by default. */
const UP_MATCHMAKER = "http://localhost:2585";

function matchmakerUrl(flag: string | undefined): string {
  if (flag) return flag;
  if (process.env.COCORE_MATCHMAKER) return process.env.COCORE_MATCHMAKER;
  try {
    const saved = loadSession()?.matchmaker;
    if (saved) return saved;
  } catch {
    // No readable session: status is public, so fall through to `up`'s default.
  }
  return UP_MATCHMAKER;
}

function waitText(ms: number): string {
  if (ms < 0) return "unknown";
  if (ms === 0) return "none";
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export function renderStatus(s: MatchmakerStatus, url: string): string {
  const lines = [`matchmaker ${url} at ${s.at}`];
  if (s.models.length === 0) return [...lines, "", "no model is being served", ...cooldownLines(s)].join("\n");
  const rows = [
    ["model", "providers", "busy/slots", "queued", "jobs/s", "expected wait"],
    ...s.models.map((m) => [
      m.model,
      String(m.providers),
      `${m.busySlots}/${m.slots}`,
      m.admitting > 0 ? `${m.queued} (+${m.admitting} admitting)` : String(m.queued),
      `${m.servicePerSec}${m.serviceSamples === 0 ? " (assumed)" : ""}`,
      waitText(m.expectedWaitMs),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  lines.push("", ...rows.map((r) => "  " + r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()));
  const first = s.models[0]!;
  lines.push("", `each model queues at most ${first.maxQueued} jobs for at most ${Math.round(first.maxWaitMs / 1000)} s; requesters take turns`);
  return [...lines, ...cooldownLines(s)].join("\n");
}

/** Machines and providers the matchmaker is cooling down (not routing to) after failures in a row. */
function cooldownLines(s: MatchmakerStatus): string[] {
  // An older matchmaker sends no cooldowns.
  const cooling = (s.cooldowns ?? []).filter((c) => c.coolingUntil !== undefined);
  if (cooling.length === 0) return [];
  return [
    "",
    "cooling down (not routed to) after failures in a row:",
    ...cooling.map((c) => `  ${c.machineKey !== undefined ? `machine ${c.machineId ?? c.machineKey} of ${c.provider}` : `provider ${c.provider} (all its machines)`}: ${c.failures} failures, until ${c.coolingUntil}`),
  ];
}

export const command: Command = {
  summary: "the matchmaker's queues: per model, providers, busy slots, waiting jobs, service rate, expected wait; machines cooling down",
  help: `usage: cocore status [--matchmaker URL] [--json]

Reads GET /v1/status from the matchmaker (--matchmaker, else COCORE_MATCHMAKER, else the one you
logged in with, else ${UP_MATCHMAKER} as \`cocore up\` runs it). No login needed: anyone can see
the queue. Machines and providers the matchmaker is cooling down after failures in a row are
listed with the time the cooling ends. --json prints the document as the matchmaker sent it.`,
  async run(args) {
    const { values } = parseFlags(args, { matchmaker: { type: "string" }, json: { type: "boolean" } }, false);
    const url = matchmakerUrl(values.matchmaker);
    let res: Response;
    try {
      res = await fetch(new URL("/v1/status", url), { signal: AbortSignal.timeout(10_000) });
    } catch {
      throw new CliError(`cannot reach the matchmaker at ${url}; pass --matchmaker URL (is \`cocore up\` running?)`, 1);
    }
    if (!res.ok) throw new CliError(`the matchmaker at ${url} answered HTTP ${res.status} to /v1/status`, 1);
    const status = (await res.json()) as MatchmakerStatus;
    if (values.json) printJson(status);
    else process.stdout.write(renderStatus(status, url) + "\n");
    return 0;
  },
};
