// Machines: each provider record the member owns, how it is doing, and the owner's switches. The
// switches write owner-intent fields of the record; the agent reads them back and follows.
import { useCallback, useEffect, useState } from "react";
import { api } from "../api.ts";
import { Link } from "../router.tsx";
import { num, tok, when } from "../format.ts";
import type { Machine } from "../types.ts";

const STATE_BADGE: Record<Machine["state"], string> = { serving: "ok", provisioning: "", offline: "warn", fault: "bad", paused: "warn" };

export function Machines() {
  const [machines, setMachines] = useState<Machine[] | undefined>();
  const [devices, setDevices] = useState<Array<{ id: string; label: string; createdAt: string }>>([]);
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const load = useCallback(() => {
    api<{ machines: Machine[]; devices: typeof devices }>("/api/machines").then((r) => {
      setMachines(r.machines);
      setDevices(r.devices);
    }, (e: Error) => setError(e.message));
  }, []);
  useEffect(load, [load]);

  const change = async (m: Machine, body: Record<string, unknown>, what: string) => {
    setError(undefined);
    try {
      await api(`/api/machines/${encodeURIComponent(m.rkey)}`, { body });
      setNotice(`${m.label}: ${what}. The agent picks this up within a few seconds.`);
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const revoke = async (id: string) => {
    try {
      await api(`/api/devices/${encodeURIComponent(id)}/revoke`, { body: {} });
      setNotice("Pairing revoked: that agent can no longer write to your repository.");
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  if (!machines) return error ? <p role="alert" className="error">{error}</p> : <p aria-busy="true" className="loading">Loading your machines…</p>;
  // A device with a machine card is revoked from its card; only the others are listed apart.
  const onCards = new Set(machines.flatMap((m) => (m.paired ? [m.paired.id] : [])));
  const unpublished = devices.filter((d) => !onCards.has(d.id));
  return (
    <section>
      <h1>Machines</h1>
      <p><Link to="/devices/new">Pair a new machine</Link> (run <code>./cocore agent pair</code> on it first).</p>
      {error ? <p role="alert" className="error">{error}</p> : null}
      {notice ? <p role="status" className="ok">{notice}</p> : null}
      {machines.length === 0 ? <p className="muted">No machines yet.</p> : null}
      {machines.map((m) => (
        <article key={m.rkey} className="card" aria-labelledby={`m-${m.rkey}`} data-testid={`machine-${m.rkey}`}>
          <h2 id={`m-${m.rkey}`}>{m.label} <span className={`badge ${STATE_BADGE[m.state]}`} data-testid="state">{m.state}</span></h2>
          <p className="muted">Agent {m.version ?? "unknown"} · {m.live ? "connected to the matchmaker" : "not connected"} · earned <strong>{tok(m.earned)}</strong> over {num(m.jobs)} settled jobs</p>
          {m.faults.map((f) => (
            <div key={f.kind} role="alert" className="error">
              <strong>{f.kind} fault <code>{f.code}</code></strong>{f.at ? ` (${when(f.at)})` : ""}: {f.message}
              <div className="muted">What to do: {f.remedy}</div>
            </div>
          ))}
          <p>Loaded models: <span data-testid="loaded">{m.supportedModels.join(", ") || "none"}</span></p>
          <DesiredModels m={m} onSave={(models) => void change(m, { desiredModels: models }, `desired models set to ${models.join(", ") || "the default"}`)} />
          <div className="row">
            <button type="button" onClick={() => void change(m, { active: !m.active }, m.active ? "paused" : "resumed")}>{m.active ? "Pause" : "Resume"}</button>
            <button type="button" className="secondary" onClick={() => void change(m, { proBono: m.proBono ? null : { mode: "any" } }, m.proBono ? "pro bono off" : "pro bono on")}>
              {m.proBono ? "Stop serving pro bono" : "Serve pro bono"}
            </button>
            <button type="button" className="secondary" onClick={() => void change(m, { toolCallsDisabled: !m.toolCallsDisabled }, m.toolCallsDisabled ? "tool calls on" : "tool calls off")}>
              {m.toolCallsDisabled ? "Turn tool calls on" : "Turn tool calls off"}
            </button>
          </div>
          <p className="muted">Pro bono: {m.proBono ? `on (${m.proBono.mode})` : "off"} · tool calls: {m.toolCallsDisabled ? "off (by you)" : m.toolCalls ? "on" : "not supported by the engine"}</p>
          {m.paired ? (
            <p>Paired through the console on {when(m.paired.createdAt)}. <button type="button" className="danger" onClick={() => void revoke(m.paired!.id)}>Revoke pairing</button></p>
          ) : null}
        </article>
      ))}
      {unpublished.length > 0 ? (
        <>
          <h2>Paired, not yet published</h2>
          <p className="muted">These agents were paired but have not published a machine record yet.</p>
          <ul>
            {unpublished.map((d) => (
              <li key={d.id}>{d.label} (paired {when(d.createdAt)}) <button type="button" className="danger" onClick={() => void revoke(d.id)} aria-label={`Revoke ${d.label}`}>Revoke</button></li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}

function DesiredModels(p: { m: Machine; onSave: (models: string[]) => void }) {
  const [text, setText] = useState((p.m.desiredModels ?? []).join(", "));
  const id = `desired-${p.m.rkey}`;
  return (
    <form onSubmit={(e) => { e.preventDefault(); p.onSave(text.split(",").map((s) => s.trim()).filter(Boolean)); }}>
      <label htmlFor={id}>Desired models (comma-separated; empty: the agent's default)</label>
      <div className="row">
        <input id={id} value={text} onChange={(e) => setText(e.target.value)} placeholder={p.m.supportedModels.join(", ")} />
        <button type="submit" className="secondary">Save models</button>
      </div>
    </form>
  );
}
