// Home: what the member has and why. Every number is the exchange's (getBalance, listHistory,
// getPatronage); this page only lays them out and says in words what the policy's rules mean.
import { useEffect, useState } from "react";
import { api } from "../api.ts";
import { explore, num, tok, when } from "../format.ts";
import type { HomeData, HistoryRow } from "../types.ts";
import { BalanceChart } from "./BalanceChart.tsx";

const pct = (bps: number) => `${(bps / 100).toLocaleString("en-US")}%`;

export function Home() {
  const [data, setData] = useState<HomeData | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    api<HomeData>("/api/home").then(setData, (e: Error) => setError(e.message));
  }, []);
  if (error) return <p role="alert" className="error">{error}</p>;
  if (!data) return <p aria-busy="true" className="loading">Loading your balance…</p>;
  const p = data.policy;
  return (
    <section>
      <h1>Home</h1>
      <div className="cards">
        <Card label="Balance" value={tok(data.balance)} testId="balance" />
        <Card label="Held for running jobs" value={tok(data.held)} testId="held" />
        <Card label="Available" value={tok(data.available)} testId="available" />
        <Card label="Next refresh" value={p.refresh ? when(data.nextRefreshAt) : "no refresh"} />
        <Card label="Patronage this period" value={data.patronage ? tok(data.patronage.score ?? 0) : "—"} testId="patronage" />
        <Card label="Projected rebate" value={data.patronage ? tok(data.patronage.projectedRebate ?? 0) : "—"} testId="rebate" />
      </div>

      <h2>How these numbers work</h2>
      <ul>
        <li>Every member got a welcome grant of {tok(p.tokenGrant)}. A job is admitted only while your available balance minus its price ceiling stays at or above {tok(p.tokenFloor)}; the ceiling is held until the receipt settles.</li>
        <li>A settled job costs exactly the price on its signed receipt. The provider receives {pct(10_000 - p.feeBps)} and the cooperative's treasury {pct(p.feeBps)}{p.selfLoopFeeWaived ? " (nothing moves when you run a job on your own machine)" : ""}.</li>
        {p.refresh ? <li>When you use the network at least {num(p.refresh.cadenceMinutes / 1440)} days after your last refresh, you get {tok(p.refresh.amountPerDid)} more.</li> : null}
        {p.patronage && data.patronage ? (
          <li>
            Every {num(p.patronage.cadenceDays)} days, {pct(p.patronage.fractionBps)} of the treasury (now {tok(data.treasuryBalance)}) goes back to the members in proportion to their patronage: tokens spent plus tokens earned. This period ({when(data.patronage.start)} – {when(data.patronage.end)}) your patronage is {tok(data.patronage.score ?? 0)} of {tok(data.patronage.totalScore)}; if it ended now you would get {tok(data.patronage.projectedRebate ?? 0)} of {tok(data.patronage.projectedPool)}.
          </li>
        ) : null}
      </ul>

      <h2>Balance over time</h2>
      <BalanceChart points={data.series} />

      <h2>History</h2>
      <History rows={data.rows} />
    </section>
  );
}

function Card(p: { label: string; value: string; testId?: string }) {
  return (
    <div className="card">
      <div className="label">{p.label}</div>
      <div className="value" data-testid={p.testId}>{p.value}</div>
    </div>
  );
}

const KIND: Record<HistoryRow["kind"], string> = { job: "Job", grant: "Welcome grant", refresh: "Refresh", patronage: "Patronage rebate" };

function History(p: { rows: HistoryRow[] }) {
  if (p.rows.length === 0) return <p className="muted">Nothing yet. Run a job in Chat.</p>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr><th scope="col">When</th><th scope="col">What</th><th scope="col" className="num">Spent</th><th scope="col" className="num">Earned</th><th scope="col" className="num">Fee</th><th scope="col">Record</th></tr>
        </thead>
        <tbody>
          {p.rows.map((r, i) => (
            <tr key={`${r.at}-${i}`}>
              <td>{when(r.at)}</td>
              <td>{KIND[r.kind]}</td>
              <td className="num">{r.kind === "job" ? num(r.spent ?? 0) : ""}</td>
              <td className="num">{r.kind === "job" ? num(r.earned ?? 0) : num(r.amount ?? 0)}</td>
              <td className="num">{r.kind === "job" ? num(r.fee ?? 0) : ""}</td>
              <td>
                {r.receipt ? <a href={explore(r.receipt)}>receipt</a> : null}
                {r.receipt && r.record ? " · " : null}
                {r.record ? <a href={explore(r.record)}>{r.kind === "job" ? "settlement" : "record"}</a> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
