// Chat: pick a model, send, watch the answer stream; then the receipt's verdict (each check the
// protocol core made), tokens, price, and the settlement once the exchange publishes it. Every
// turn is one job carrying the conversation so far.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, ApiError, ndjson } from "../api.ts";
import { explore, num, short, tok } from "../format.ts";
import type { ChatEvent, ModelInfo } from "../types.ts";
import { CheckList, VerdictBadge } from "./CheckList.tsx";

interface Turn {
  role: "user" | "assistant";
  content: string;
  job?: string;
  status?: string;
  done?: Extract<ChatEvent, { type: "done" }>;
  verified?: Extract<ChatEvent, { type: "verified" }>;
  settlement?: Extract<ChatEvent, { type: "settlement" }>;
  error?: { code: string; message: string };
}

export function Chat() {
  const [models, setModels] = useState<ModelInfo[] | undefined>();
  const [model, setModel] = useState("");
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState("");
  const [maxTokens, setMaxTokens] = useState(256);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const abort = useRef<AbortController | undefined>(undefined);

  useEffect(() => {
    api<{ models: ModelInfo[] }>("/api/models").then((r) => {
      setModels(r.models);
      setModel((m) => m || r.models[0]?.id || "");
    }, (e: Error) => setError(e.message));
  }, []);

  const update = (fn: (t: Turn) => Turn) => setTurns((ts) => [...ts.slice(0, -1), fn(ts[ts.length - 1]!)]);

  const send = async (e: FormEvent) => {
    e.preventDefault();
    const text = draft.trim();
    if (!text || running) return;
    const history = [...turns.filter((t) => !t.error), { role: "user" as const, content: text }];
    setTurns([...turns, { role: "user", content: text }, { role: "assistant", content: "", status: "Sealing and publishing the job…" }]);
    setDraft("");
    setRunning(true);
    const ctrl = new AbortController();
    abort.current = ctrl;
    try {
      const res = await fetch("/api/chat", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: history.map(({ role, content }) => ({ role, content })), maxTokens }),
        signal: ctrl.signal,
      });
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
        throw new ApiError(res.status, body.error?.code ?? "http_error", body.error?.message ?? `HTTP ${res.status}`);
      }
      for await (const ev of ndjson<ChatEvent>(res)) {
        if (ev.type === "submitted") update((t) => ({ ...t, job: ev.job, status: "Waiting for the provider…" }));
        else if (ev.type === "queued") update((t) => ({ ...t, status: `In line: position ${ev.position}` }));
        else if (ev.type === "dispatched") update((t) => ({ ...t, status: "Answering…" }));
        else if (ev.type === "chunk") update((t) => ({ ...t, content: t.content + ev.text }));
        else if (ev.type === "done") update((t) => ({ ...t, done: ev, status: "Verifying the receipt…" }));
        else if (ev.type === "verified") update((t) => ({ ...t, verified: ev, status: "Waiting for the settlement…" }));
        else if (ev.type === "settlement") update((t) => ({ ...t, settlement: ev, status: undefined }));
        else if (ev.type === "error") update((t) => ({ ...t, error: { code: ev.code, message: ev.message }, status: undefined }));
      }
    } catch (err) {
      const stopped = ctrl.signal.aborted;
      update((t) => ({ ...t, status: undefined, error: stopped ? { code: "cancelled", message: "Stopped." } : { code: (err as ApiError).code ?? "error", message: (err as Error).message } }));
    } finally {
      setRunning(false);
      abort.current = undefined;
    }
  };

  const selected = models?.find((m) => m.id === model);
  return (
    <section>
      <h1>Chat</h1>
      {error ? <p role="alert" className="error">{error}</p> : null}
      <label htmlFor="model">Model</label>
      <select id="model" value={model} onChange={(e) => setModel(e.target.value)} disabled={!models || running}>
        {(models ?? []).map((m) => (
          <option key={m.id} value={m.id}>
            {m.id} — {m.providers} provider{m.providers === 1 ? "" : "s"}
            {m.inputPricePerMTok !== undefined ? `, ${num(m.inputPricePerMTok)} in / ${num(m.outputPricePerMTok ?? 0)} out ${m.currency} per M tokens` : ""}
          </option>
        ))}
      </select>
      <label htmlFor="max-tokens">Max tokens in the answer</label>
      <input id="max-tokens" type="number" min={1} max={2048} value={maxTokens} onChange={(e) => setMaxTokens(Math.max(1, Math.min(2048, Number(e.target.value) || 1)))} disabled={running} />
      {models && models.length === 0 ? <p className="warn">No provider is serving a model right now.</p> : null}
      {selected?.inputPricePerMTok !== undefined ? <p className="muted">Price per million tokens: {num(selected.inputPricePerMTok)} in, {num(selected.outputPricePerMTok ?? 0)} out ({selected.currency}).</p> : null}

      <div className="chat-log" aria-live="polite">
        {turns.map((t, i) => (
          <div key={i} className={`msg ${t.role}`}>
            <span className="visually-hidden">{t.role === "user" ? "You:" : "Answer:"}</span>
            <div data-testid={t.role === "assistant" ? "answer" : undefined}>{t.content}</div>
            {t.status ? <p className="muted" aria-busy="true">{t.status}</p> : null}
            {t.error ? <p role="alert" className="error" data-testid="refusal">Refused: <code>{t.error.code}</code> — {t.error.message}</p> : null}
            {t.role === "assistant" ? <ReceiptPanel t={t} /> : null}
          </div>
        ))}
      </div>

      <form onSubmit={(e) => void send(e)}>
        <label htmlFor="prompt">Message</label>
        <textarea id="prompt" rows={3} value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Ask something…" />
        <div className="row">
          <button type="submit" disabled={running || !model || !draft.trim()}>Send</button>
          <button type="button" className="secondary" onClick={() => abort.current?.abort()} disabled={!running}>Stop</button>
        </div>
      </form>
    </section>
  );
}

function ReceiptPanel({ t }: { t: Turn }) {
  if (!t.done) return null;
  const v = t.verified;
  return (
    <div className="receipt" data-testid="receipt">
      <p>
        <VerdictBadge ok={v?.ok} />{" "}
        {num(t.done.tokens.in)} tokens in, {num(t.done.tokens.out)} out · price <strong data-testid="price">{tok(t.done.price.amount)}</strong> · provider <code>{short(t.done.provider)}</code>
      </p>
      {v ? <CheckList checks={v.checks} /> : null}
      <p>
        <a href={explore(t.done.receipt)}>receipt</a>
        {t.job ? <> · <a href={explore(t.job)}>job</a></> : null}
        {t.settlement ? (
          <> · <a href={explore(t.settlement.uri)}>settlement</a>: charged <span data-testid="charged">{tok(t.settlement.amountCharged)}</span>, provider {tok(t.settlement.providerPayout)}, fee {tok(t.settlement.exchangeFee)}</>
        ) : null}
      </p>
    </div>
  );
}
