// Service-auth replay protection kept in the ledger database (table `seen_jtis`), so that a token
// accepted once stays refused until it expires: across a restart of the exchange, and across
// processes serving the same database.
import type { ReplayGuard } from "@cocore/atproto";
import type { LedgerDb } from "./db/open.ts";

/** How often expired rows are deleted (seconds); rows outlive their token by at most this. */
const SWEEP_EVERY_S = 60;

export class SqlReplayGuard implements ReplayGuard {
  private nextSweep = 0;

  /**
   * `now` is the wall clock in epoch seconds, never the exchange's injected ledger clock: a token's
   * `exp` is wall-clock time, and verifyJwt has already judged it against the wall clock.
   */
  constructor(
    private readonly ldb: LedgerDb,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  async check(jti: string, exp: number): Promise<boolean> {
    const t = Math.floor(this.now());
    if (t >= this.nextSweep) {
      this.nextSweep = t + SWEEP_EVERY_S;
      await this.sweep(t);
    }
    const until = Math.ceil(exp);
    // One statement decides: the insert wins for a new jti, the update for one whose token has
    // expired (its row not swept yet), and nothing comes back for a jti still in force. Two
    // concurrent checks of one jti cannot both get a row: SQLite has one writer, and PostgreSQL's
    // ON CONFLICT waits for the other transaction's row and re-checks the WHERE against it.
    const row = await this.ldb.db
      .insertInto("seen_jtis")
      .values({ jti, exp: until })
      .onConflict((oc) => oc.column("jti").doUpdateSet({ exp: until }).where("seen_jtis.exp", "<", t))
      .returning("jti")
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Deletes the rows of tokens expired before `t` (epoch seconds); returns how many. */
  async sweep(t: number = Math.floor(this.now())): Promise<number> {
    const res = await this.ldb.db.deleteFrom("seen_jtis").where("exp", "<", t).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
