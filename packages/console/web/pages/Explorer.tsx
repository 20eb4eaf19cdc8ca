// The Explorer: look up a member (DID or handle), a job, a receipt or a settlement, and see each
// receipt with the verdict the protocol core computed from the public records; below, the
// exchange's policy in plain words with its numbers, its treasury and past patronage periods.
import { useEffect, useState, type FormEvent } from "react";
import { api } from "../api.ts";
import { explore, num, short, tok, when } from "../format.ts";
import { navigate, useLocation } from "../router.tsx";
import type { ExplorerExchange, ExplorerReceipt, ExplorerResult } from "../types.ts";
import { CheckList, VerdictBadge } from "./CheckList.tsx";

const pct = (bps: number) => `${(bps / 100).toLocaleString("en-US")}%`;

export function Explorer() {
  const loc = useLocation();
  const q = loc.searchParams.get("q") ?? "";
  const [input, setInput] = useState(q);
  const [result, setResult] = useState<{ q: string; r?: ExplorerResult; error?: string } | undefined>();
  useEffect(() => {
    setInput(q);
    if (!q) return setResult(undefined);
    setResult({ q });
    api<ExplorerResult>(`/api/explorer?q=${encodeURIComponent(q)}`).then((r) => setResult({ q, r }), (e: Error) => setResult({ q, error: e.message }));
  }, [q]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (input.trim()) navigate(explore(input.trim()));
  };
  return (
    <section>
      <h1>Explorer</h1>
      <p>Every receipt and settlement is a public record. Look one up and check it here, or offline with <code>cocore verify</code>.</p>
      <form onSubmit={submit} role="search">
        <label htmlFor="explorer-q">DID, handle, or a job, receipt or settlement URI</label>
        <div className="row">
          <input id="explorer-q" value={input} onChange={(e) => setInput(e.target.value)} placeholder="alice.test or at://did:plc:…/dev.cocore.compute.receipt/…" />
          <button type="submit">Look up</button>
        </div>
      </form>
      {result ? <Result {...result} /> : null}
      <ExchangeFacts />
    </section>
  );
}

function Result({ q, r, error }: { q: string; r?: ExplorerResult; error?: string }) {
  if (error) return <p role="alert" className="error">{error}</p>;
  if (!r) return <p aria-busy="true" className="loading">Checking {short(q, 24)}…</p>;
  if (r.kind === "receipt") return <ReceiptDetail r={r.receipt} />;
  const heading = r.kind === "job" ? <>Receipts for job <code>{short(r.job, 24)}</code></> : <>Receipts of <code>{r.did}</code></>;
  return (
    <div data-testid="explorer-result">
      <h2>{heading}</h2>
      {r.receipts.length === 0 ? (
        <p className="muted">{r.kind === "job" ? `No settled receipt for this job among the requester's latest ${num(r.searched)} settlements.` : "No settlements involve this member yet."}</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr><th scope="col">Completed</th><th scope="col">Verdict</th><th scope="col">Price</th><th scope="col">Model</th><th scope="col">Tokens in / out</th><th scope="col">Charged · provider · fee</th><th scope="col">Records</th></tr>
            </thead>
            <tbody>
              {r.receipts.map((x) => (
                <tr key={x.uri} data-testid="explorer-row">
                  <td>{when(x.completedAt)}</td>
                  {/* The verdict first after the time: it is what a narrow screen must show without scrolling. */}
                  <td><VerdictBadge ok={x.verdict.ok} />{x.error ? <> <code>{x.error.code}</code></> : null}</td>
                  <td>{x.price ? tok(x.price.amount) : "—"}</td>
                  <td>{x.model ?? "—"}</td>
                  <td>{x.tokens ? `${num(x.tokens.in)} / ${num(x.tokens.out)}` : "—"}</td>
                  <td>{x.settlement ? `${tok(x.settlement.amountCharged)} · ${tok(x.settlement.providerPayout)} · ${tok(x.settlement.exchangeFee)}` : "not settled"}</td>
                  <td>
                    <a href={explore(x.uri)}>receipt</a>
                    {x.job ? <> · <a href={explore(x.job)}>job</a></> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function ReceiptDetail({ r }: { r: ExplorerReceipt }) {
  return (
    <div className="receipt" data-testid="explorer-receipt">
      <h2>Receipt</h2>
      <p><code>{r.uri}</code></p>
      <p>
        <VerdictBadge ok={r.verdict.ok} /> computed here from the public records by the protocol core.
        {r.exchange ? <> The exchange: <strong data-testid="exchange-status">{r.exchange.status}</strong>{r.exchange.findings.length > 0 ? ` (${r.exchange.findings.map((f) => f.code).join(", ")})` : ""}.</> : " The exchange has not seen it."}
      </p>
      {r.error ? <p role="alert" className="error"><code>{r.error.code}</code> {r.error.message}</p> : null}
      <dl className="facts">
        <dt>Provider</dt><dd><a href={explore(r.provider)}><code>{r.provider}</code></a></dd>
        {r.requester ? <><dt>Requester</dt><dd><a href={explore(r.requester)}><code>{r.requester}</code></a></dd></> : null}
        {r.model ? <><dt>Model</dt><dd>{r.model}</dd></> : null}
        {r.tokens ? <><dt>Tokens</dt><dd>{num(r.tokens.in)} in, {num(r.tokens.out)} out</dd></> : null}
        {r.price ? <><dt>Price</dt><dd data-testid="explorer-price">{tok(r.price.amount)}{r.proBono ? " (pro bono)" : ""}</dd></> : null}
        {r.completedAt ? <><dt>Completed</dt><dd>{when(r.completedAt)}</dd></> : null}
        {r.settlement ? (
          <><dt>Settlement</dt><dd>charged {tok(r.settlement.amountCharged)}, provider {tok(r.settlement.providerPayout)}, fee {tok(r.settlement.exchangeFee)} · {when(r.settlement.settledAt)}</dd></>
        ) : null}
      </dl>
      {r.verdict.checks.length > 0 ? <CheckList checks={r.verdict.checks} /> : null}
      <h3>Records checked</h3>
      <ul>
        {Object.entries(r.records).map(([part, uri]) => <li key={part}>{part}: <code>{uri}</code></li>)}
        {r.settlement?.uri ? <li>settlement: <code>{r.settlement.uri}</code></li> : null}
        {r.missing.map((m) => <li key={m} className="fail">missing: <code>{m}</code></li>)}
      </ul>
    </div>
  );
}

function ExchangeFacts() {
  const [x, setX] = useState<ExplorerExchange | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    api<ExplorerExchange>("/api/explorer/exchange").then(setX, (e: Error) => setError(e.message));
  }, []);
  if (error) return <p role="alert" className="error">{error}</p>;
  if (!x) return <p aria-busy="true" className="loading">Reading the exchange's policy…</p>;
  const p = x.policy;
  return (
    <div data-testid="exchange-facts">
      <h2>The exchange and its rules</h2>
      <p>Exchange <code>{x.did}</code>, policy <code>{short(p.uri, 24)}</code>. Balances are kept in {p.currency}; anyone can recompute them from the published records with <code>cocore ledger replay</code>.</p>
      <ul>
        <li>A DID seen for the first time is granted {tok(p.tokenGrant)}, once.</li>
        <li>Of every settled receipt the provider is paid {pct(10_000 - p.feeBps)} and the treasury keeps {pct(p.feeBps)}{p.feeMinMinor > 0 ? `, at least ${tok(p.feeMinMinor)}` : ""} and never more than the price{p.selfLoopFeeWaived ? "; a job run on the requester's own machine pays no fee" : ""}.</li>
        <li>A job is admitted only if the requester's balance, less what is held and the job's price ceiling, stays at or above {tok(p.tokenFloor)}.</li>
        {p.refresh ? <li>A member active {num(p.refresh.cadenceMinutes / 1440)} days or more after their last refresh receives {tok(p.refresh.amountPerDid)} more.</li> : <li>There is no periodic refresh.</li>}
        {p.patronage ? <li>Every {num(p.patronage.cadenceDays)} days, {pct(p.patronage.fractionBps)} of the treasury is rebated to the members in proportion to their patronage (tokens spent plus earned that period).</li> : <li>There is no patronage rebate.</li>}
      </ul>
      <p>Treasury <code>{short(x.treasury)}</code> holds <strong data-testid="treasury">{tok(x.treasuryBalance)}</strong>.</p>
      {x.current ? (
        <p>
          This period ({when(x.current.start)} – {when(x.current.end)}): {num(x.current.members ?? 0)} members with patronage {tok(x.current.totalScore)}; if it ended now {tok(x.current.projectedPool)} would be rebated.
        </p>
      ) : null}
      <h3>Past patronage periods</h3>
      {x.periods.length === 0 ? <p className="muted">None distributed yet.</p> : (
        <div className="table-wrap">
          <table>
            <thead><tr><th scope="col">Ended</th><th scope="col">Rebated</th><th scope="col">Members</th></tr></thead>
            <tbody>{x.periods.map((d) => <tr key={d.end}><td>{when(d.end)}</td><td>{tok(d.distributed)}</td><td>{num(d.recipients)}</td></tr>)}</tbody>
          </table>
        </div>
      )}
    </div>
  );
}
