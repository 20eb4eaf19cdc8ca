// Approving a machine that ran `cocore agent pair`: the code it printed, its name and key as it
// sent them, and Approve / Deny. Approving lets that machine write only its own records (its
// provider record, attestations and receipts) into your repository, through this console.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, ApiError } from "../api.ts";
import { short, when } from "../format.ts";
import { Link, navigate } from "../router.tsx";

interface Pairing {
  code: string;
  label: string;
  publicKey: string;
  expiresAt: string;
  status: "pending" | "approved" | "denied" | "expired";
}

const CODE_RE = /^[A-Z0-9]{4}-[A-Z0-9]{4}$/;

export function DevicesNew(p: { code: string | null }) {
  const code = (p.code ?? "").trim().toUpperCase();
  if (!CODE_RE.test(code)) return <EnterCode initial={code} />;
  return <Approve key={code} code={code} />;
}

function EnterCode(p: { initial: string }) {
  const [text, setText] = useState(p.initial);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    navigate(`/devices/new?code=${encodeURIComponent(text.trim().toUpperCase())}`);
  };
  return (
    <section>
      <h1>Pair a machine</h1>
      <p>On the machine, run <code>./cocore agent pair --console {location.origin}</code>. It prints a code and a link to this page.</p>
      {p.initial ? <p role="alert" className="error">“{p.initial}” is not a pairing code: it looks like BCDF-2345.</p> : null}
      <form onSubmit={submit}>
        <label htmlFor="pair-code">Pairing code</label>
        <div className="row">
          <input id="pair-code" value={text} onChange={(e) => setText(e.target.value)} placeholder="BCDF-2345" autoComplete="off" required />
          <button type="submit">Continue</button>
        </div>
      </form>
    </section>
  );
}

function Approve(p: { code: string }) {
  const [pairing, setPairing] = useState<Pairing | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState<"approved" | "denied" | undefined>();
  const [busy, setBusy] = useState(false);
  const load = useCallback(() => {
    api<Pairing>(`/api/pairings/${encodeURIComponent(p.code)}`).then(setPairing, (e: Error) => setError(e.message));
  }, [p.code]);
  useEffect(load, [load]);

  const decide = async (what: "approve" | "deny") => {
    setBusy(true);
    setError(undefined);
    try {
      await api(`/api/pairings/${encodeURIComponent(p.code)}/${what}`, { body: {} });
      setDone(what === "approve" ? "approved" : "denied");
    } catch (e) {
      setError(e instanceof ApiError ? `${e.message} (${e.code})` : (e as Error).message);
      load();
    } finally {
      setBusy(false);
    }
  };

  if (!pairing) {
    return (
      <section>
        <h1>Pair a machine</h1>
        {error ? <p role="alert" className="error">{error}</p> : <p aria-busy="true" className="loading">Looking up code {p.code}…</p>}
        <p><Link to="/devices/new">Enter another code</Link></p>
      </section>
    );
  }
  const pending = pairing.status === "pending" && !done;
  return (
    <section>
      <h1>Pair a machine</h1>
      <article className="card" aria-labelledby="pairing-title" data-testid="pairing">
        <h2 id="pairing-title">{pairing.label}</h2>
        <dl>
          <dt>Code</dt>
          <dd><code data-testid="pairing-code">{pairing.code}</code> (it must match the code the machine printed)</dd>
          <dt>Machine key</dt>
          <dd><code title={pairing.publicKey}>{short(pairing.publicKey)}</code></dd>
          <dt>Code expires</dt>
          <dd>{when(pairing.expiresAt)}</dd>
          <dt>Status</dt>
          <dd data-testid="pairing-status">{done ?? pairing.status}</dd>
        </dl>
      </article>
      {error ? <p role="alert" className="error">{error}</p> : null}
      {pending ? (
        <>
          <p>Approving lets this machine publish its own provider record, attestations and receipts in your repository, through this console. It cannot post, publish jobs or spend. You can revoke it on the Machines page at any time.</p>
          <div className="row">
            <button type="button" disabled={busy} onClick={() => void decide("approve")}>Approve {pairing.label}</button>
            <button type="button" className="secondary" disabled={busy} onClick={() => void decide("deny")}>Deny</button>
          </div>
        </>
      ) : null}
      {done === "approved" ? (
        <p role="status" className="ok">Approved. The machine picks up its credential within a few seconds; then run <code>./cocore agent serve</code> on it, no password needed. It appears on the <Link to="/machines">Machines</Link> page.</p>
      ) : null}
      {done === "denied" ? <p role="status">Denied. The machine was told; it cannot write anything.</p> : null}
      {!pending && !done ? <p className="muted">This code is {pairing.status}. On the machine, run <code>./cocore agent pair</code> again for a new code.</p> : null}
    </section>
  );
}
