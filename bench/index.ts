// The registry behind `cocore bench NAME`: each bench is loaded only when asked for (they pull in
// heavy dependencies: a model, a local network, databases). To add one, add an entry here.

export type Figure = number | string | boolean | null;

export interface BenchOutcome {
  figures: Record<string, Figure>;
  /** Things the reader of the figures must know (a figure skipped, and why). */
  notes?: string[];
}

export interface Bench {
  summary: string;
  run(): Promise<BenchOutcome>;
}

export const PG_BENCH_URL = process.env.COCORE_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export const benches: Record<string, () => Promise<Bench>> = {
  settle: async () => {
    const { benchSettle } = await import("./settle.ts");
    return {
      summary: "verified-and-settled receipts/s on SQLite and PostgreSQL (signatures included), and P-256 verify/s per core",
      async run() {
        const r = await benchSettle({ pgUrl: PG_BENCH_URL });
        const notes: string[] = [];
        if (r.postgresReceiptsPerSec === null) notes.push(`PostgreSQL figure skipped: cannot create a database at ${PG_BENCH_URL.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@")}`);
        return { figures: { ...r }, ...(notes.length > 0 ? { notes } : {}) };
      },
    };
  },
  audit: async () => {
    const { benchAudit } = await import("./audit.ts");
    return {
      summary: "seconds to audit N settled receipts from verified repo CARs (signatures checked, ledger re-derived)",
      async run() {
        const r = await benchAudit();
        return { figures: { receipts: r.receipts, seconds: r.seconds, receiptsPerSec: r.receiptsPerSec, writeSeconds: r.writeSeconds } };
      },
    };
  },
  engine: async () => {
    const { benchEngine } = await import("./engine.ts");
    return {
      summary: "generated tokens/s through the whole agent path vs. the raw engine loop, same model and threads",
      async run() {
        return { figures: { ...(await benchEngine()) } };
      },
    };
  },
  reliability: async () => {
    const { benchReliability } = await import("./reliability.ts");
    return {
      summary: "the one-ledger differential check at full size: engine (SQLite, PostgreSQL), replay and auditor agree over shuffled deliveries; tamperings reported",
      async run() {
        const r = await benchReliability();
        return { figures: r.figures, ...(r.problems.length > 0 ? { notes: r.problems } : {}) };
      },
    };
  },
  dispatch: async () => {
    const { benchDispatch } = await import("./dispatch.ts");
    return {
      summary: "time to first decrypted token and streamed tokens/s through the whole cocore path vs. the same engine called directly",
      async run() {
        return { figures: { ...(await benchDispatch()) } };
      },
    };
  },
  console: async () => {
    const { benchConsole } = await import("./console.ts");
    return {
      summary: "the web console's Home in a real browser on the local cooperative: first (cold-cache) and warm load to the balance shown, and the JS it sends",
      async run() {
        return { figures: { ...(await benchConsole()) } };
      },
    };
  },
  queue: async () => {
    const { benchQueue } = await import("./queue.ts");
    return {
      summary: "a burst of concurrent chat completions through the gateway against one agent: served, refused, waits, the single job's wait during the burst, service rate",
      async run() {
        const r = await benchQueue();
        const notes = r.fairnessMaxWaitMs < 0 ? ["fairnessMaxWaitMs skipped: the burst drained before a single job could be sent"] : [];
        return { figures: { ...r }, ...(notes.length > 0 ? { notes } : {}) };
      },
    };
  },
};

export function benchNames(): string[] {
  return Object.keys(benches).sort();
}
