// Jobs: every job the member published, with what became of it.
import { useEffect, useState } from "react";
import { api } from "../api.ts";
import { explore, num, short, when } from "../format.ts";
import type { JobRow } from "../types.ts";

const BADGE: Record<JobRow["status"], string> = { running: "", settling: "", settled: "ok", rejected: "bad", refused: "bad", cancelled: "warn", expired: "warn" };

export function Jobs() {
  const [jobs, setJobs] = useState<JobRow[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    api<{ jobs: JobRow[] }>("/api/jobs").then((r) => setJobs(r.jobs), (e: Error) => setError(e.message));
  }, []);
  if (error) return <p role="alert" className="error">{error}</p>;
  if (!jobs) return <p aria-busy="true" className="loading">Loading your jobs…</p>;
  return (
    <section>
      <h1>Jobs</h1>
      {jobs.length === 0 ? <p className="muted">No jobs yet.</p> : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr><th scope="col">Created</th><th scope="col">Model</th><th scope="col">Status</th><th scope="col">Provider</th><th scope="col" className="num">Tokens</th><th scope="col" className="num">Price</th><th scope="col">Records</th></tr>
            </thead>
            <tbody>
              {jobs.map((j) => (
                <tr key={j.uri}>
                  <td>{when(j.createdAt)}</td>
                  <td>{j.model}</td>
                  <td>
                    <span className={`badge ${BADGE[j.status]}`}>{j.status}</span>
                    {j.code ? <div><code>{j.code}</code>{j.reason ? ` — ${j.reason}` : ""}</div> : null}
                  </td>
                  <td>{j.provider ? <code>{short(j.provider)}</code> : "—"}</td>
                  <td className="num">{j.tokens ? `${num(j.tokens.in)} / ${num(j.tokens.out)}` : "—"}</td>
                  <td className="num">{j.price !== undefined ? num(j.price) : "—"}</td>
                  <td>
                    <a href={explore(j.uri)}>job</a>
                    {j.receipt ? <> · <a href={explore(j.receipt)}>receipt</a></> : null}
                    {j.settlement ? <> · <a href={explore(j.settlement)}>settlement</a></> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
