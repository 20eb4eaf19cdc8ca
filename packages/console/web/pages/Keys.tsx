// API keys for the OpenAI-compatible API: the same store the gateway reads. A new key is shown
// once, with an example for the `openai` client that can be copied as it is.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api } from "../api.ts";
import { when } from "../format.ts";

interface KeyRow {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  expired: boolean;
}

export function Keys() {
  const [keys, setKeys] = useState<KeyRow[] | undefined>();
  const [apiBase, setApiBase] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const [created, setCreated] = useState<{ key: string; name: string } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const load = useCallback(() => {
    api<{ keys: KeyRow[]; apiBase: string | null }>("/api/keys").then((r) => {
      setKeys(r.keys);
      setApiBase(r.apiBase);
    }, (e: Error) => setError(e.message));
  }, []);
  useEffect(load, [load]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const r = await api<{ key: string; name: string }>("/api/keys", { body: { name, expiresInDays: days === "" ? undefined : Number(days) } });
      setCreated(r);
      setName("");
      load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const revoke = async (k: KeyRow) => {
    try {
      await api(`/api/keys/${k.id}`, { method: "DELETE" });
      load();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const base = apiBase ?? "http://localhost:2586/v1";
  const example = `import OpenAI from "openai";

const client = new OpenAI({ baseURL: "${base}", apiKey: "${created?.key ?? "ck-…"}" });
const answer = await client.chat.completions.create({
  model: "fortunes-char",
  messages: [{ role: "user", content: "Tell me a fortune." }],
});
console.log(answer.choices[0].message.content);`;

  return (
    <section>
      <h1>API keys</h1>
      <p>Keys for the OpenAI-compatible API{apiBase ? <> at <code>{apiBase}</code></> : null}. Each key spends from your balance; only its hash is stored.</p>
      {error ? <p role="alert" className="error">{error}</p> : null}
      <form onSubmit={(e) => void create(e)}>
        <div className="row">
          <div>
            <label htmlFor="key-name">Name</label>
            <input id="key-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="laptop" required maxLength={64} />
          </div>
          <div>
            <label htmlFor="key-days">Expires after (days, optional)</label>
            <input id="key-days" type="number" min={1} max={3650} value={days} onChange={(e) => setDays(e.target.value)} />
          </div>
        </div>
        <p><button type="submit">Create key</button></p>
      </form>
      {created ? (
        <div className="card" role="status">
          <p><strong>{created.name}</strong>: copy this key now — it is not shown again.</p>
          <pre data-testid="new-key">{created.key}</pre>
        </div>
      ) : null}

      <h2>Use it with the openai client</h2>
      <pre data-testid="example">{example}</pre>
      <CopyButton text={example} />

      <h2>Your keys</h2>
      {!keys ? <p aria-busy="true" className="loading">Loading…</p> : keys.length === 0 ? <p className="muted">No keys yet.</p> : (
        <div className="table-wrap">
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.id}>
                  <td>{k.name}</td>
                  <td>{when(k.createdAt)}</td>
                  <td data-testid="last-used">{k.lastUsedAt ? when(k.lastUsedAt) : "never"}</td>
                  <td>{k.expiresAt ? `${when(k.expiresAt)}${k.expired ? " (expired)" : ""}` : "never"}</td>
                  <td><button type="button" className="danger" onClick={() => void revoke(k)} aria-label={`Revoke ${k.name}`}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function CopyButton(p: { text: string }) {
  const [done, setDone] = useState(false);
  const copy = () => {
    navigator.clipboard?.writeText(p.text).then(() => setDone(true), () => setDone(false));
  };
  return <button type="button" className="secondary" onClick={copy}>{done ? "Copied" : "Copy example"}</button>;
}
