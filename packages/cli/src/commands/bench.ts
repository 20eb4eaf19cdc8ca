import { cpus, totalmem } from "node:os";
import { benches, benchNames, type BenchOutcome } from "../../../../bench/index.ts";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";

function machine() {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? "unknown",
    memGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

function table(name: string, m: ReturnType<typeof machine>, outcome: BenchOutcome): string {
  const rows = Object.entries(outcome.figures).map(([k, v]) => [k, v === null ? "—" : typeof v === "number" ? v.toLocaleString("en-US") : String(v)] as const);
  const width = Math.max(...rows.map(([k]) => k.length), 6);
  const lines = [`bench ${name} on ${m.cpus}× ${m.cpuModel}, ${m.memGB} GB, node ${m.node} (${m.platform})`, ""];
  for (const [k, v] of rows) lines.push(`  ${k.padEnd(width)}  ${v}`);
  for (const n of outcome.notes ?? []) lines.push("", `note: ${n}`);
  return lines.join("\n");
}

export const command: Command = {
  summary: "run a benchmark (settle, engine, dispatch, audit, reliability, queue) and print its figures",
  help: `usage: cocore bench NAME [--json]

Runs one benchmark on this machine and prints its figures: a table, or with --json one document
{ "bench", "machine": { cpus, cpuModel, memGB, node, platform }, "figures": { … }, "notes"? }.

benches:
  settle   verified-and-settled receipts/s (SQLite, PostgreSQL at COCORE_PG_URL or
           postgres://postgres@127.0.0.1:5432 in a temporary database) and P-256 verify/s per core
  engine   tokens/s through the agent path vs. the raw engine loop
  dispatch time to first token and stream rate through the whole cocore path vs. the engine,
           plain and for a tool-calling request (toolTtftAddedMsP50)
  audit    seconds to audit N settled receipts from verified repo exports
  reliability  the one-ledger differential check: worlds × shuffled deliveries through SQLite,
           PostgreSQL, the replay and the auditor, and how long each takes
  queue    a burst of 100 requests through the gateway against one agent: queue waits (p50,
           p99), a second requester's wait and place, service rate
  console  the web console's Home in Chromium: first (cold-cache) and warm load p50/p95 to the
           balance shown, and the JS sent (gzip bytes)`,
  async run(args) {
    const { values, positionals } = parseFlags(args, { json: { type: "boolean" } });
    const [name, ...extra] = positionals;
    const available = benchNames();
    if (!name || extra.length > 0 || !Object.hasOwn(benches, name)) {
      throw new CliError(`${name ? `unknown bench '${[name, ...extra].join(" ")}'` : "which bench?"}; available: ${available.join(", ")}`);
    }
    const bench = await benches[name]!();
    const m = machine();
    process.stderr.write(`cocore bench ${name}: ${bench.summary}\n`);
    const outcome = await bench.run();
    if (values.json) printJson({ bench: name, machine: m, figures: outcome.figures, ...(outcome.notes ? { notes: outcome.notes } : {}) });
    else process.stdout.write(table(name, m, outcome) + "\n");
    return 0;
  },
};
