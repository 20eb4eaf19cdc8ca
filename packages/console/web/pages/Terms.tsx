// The exchange's terms, asked before anything else when the member has not accepted the version
// in force; accepting writes a termsAcceptance record to the member's own repo.
import { useState } from "react";
import { api } from "../api.ts";
import type { TermsInfo } from "../types.ts";

export function Terms(p: { terms: TermsInfo; onAccepted: () => void }) {
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const accept = async () => {
    setBusy(true);
    try {
      await api("/api/terms/accept", { body: { termsVersion: p.terms.termsVersion } });
      p.onAccepted();
    } catch (e) {
      setError((e as Error).message);
      setBusy(false);
    }
  };
  return (
    <section>
      <h1>The exchange's terms</h1>
      <p>
        {p.terms.acceptedVersion ? `The terms changed since you accepted version ${p.terms.acceptedVersion}. ` : "Before you use the cooperative, read its terms. "}
        Version <strong>{p.terms.termsVersion}</strong>: <a href={p.terms.termsUri} rel="noreferrer">{p.terms.termsUri}</a>
      </p>
      <p className="muted">Accepting writes a public <code>dev.cocore.compute.termsAcceptance</code> record to your own repository, naming this policy.</p>
      <button type="button" onClick={() => void accept()} disabled={busy}>I accept these terms</button>
      {error ? <p role="alert" className="error">{error}</p> : null}
    </section>
  );
}
