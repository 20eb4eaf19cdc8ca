// A receipt verdict as a list of ticks: each check the protocol core makes, and the findings that
// broke it. Chat and the Explorer show verdicts the same way.
import type { CheckResult } from "../types.ts";

export function CheckList({ checks }: { checks: readonly CheckResult[] }) {
  return (
    <ul className="checks" aria-label="Receipt checks">
      {checks.map((c) => (
        <li key={c.label} className={c.ok ? "" : "fail"}>
          {c.label}
          {c.findings.map((f) => <span key={f.code}> — <code>{f.code}</code> {f.message}</span>)}
        </li>
      ))}
    </ul>
  );
}

export function VerdictBadge({ ok }: { ok: boolean | undefined }) {
  if (ok === undefined) return <span className="badge">verifying…</span>;
  return ok ? <span className="badge ok">verified ✓</span> : <span className="badge bad">not verified ✗</span>;
}
