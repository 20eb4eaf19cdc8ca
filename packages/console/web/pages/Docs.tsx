// /docs/inference: how to call the OpenAI-compatible API, then every lexicon with its fields. The
// lists and tables come from the server, which reads them from the gateway's parser and the
// lexicon documents; only the prose and the examples are written here.
import { useEffect, useState } from "react";
import { api } from "../api.ts";
import { Link } from "../router.tsx";
import type { InferenceDocs, LexiconBody, LexiconDefView, LexiconField, LexiconView } from "../types.ts";

export function Docs() {
  const [docs, setDocs] = useState<InferenceDocs | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    api<InferenceDocs>("/api/docs/inference").then(setDocs, (e: Error) => setError(e.message));
  }, []);
  useEffect(() => {
    // The page arrives after the first paint: honour a #fragment once the target exists.
    if (docs && location.hash) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView();
  }, [docs]);
  if (error) return <p role="alert" className="error">{error}</p>;
  if (!docs) return <p aria-busy="true" className="loading">Loading…</p>;
  return (
    <article className="docs">
      <h1>Inference API and lexicons</h1>
      <nav aria-label="On this page">
        <ul>
          <li><a href="#using-the-api">Using the API</a></li>
          <li><a href="#parameters">Parameters</a></li>
          <li><a href="#json-schema">Structured output</a></li>
          <li><a href="#lexicons">Lexicons</a></li>
        </ul>
      </nav>
      <ApiGuide docs={docs} />
      <section aria-labelledby="lexicons">
        <h2 id="lexicons">Lexicons</h2>
        <p>
          Every record and call of the protocol, as its lexicon defines it. Records live in their author's
          own repository; anyone can read them and check a balance, a receipt or a settlement offline.
        </p>
        <ul className="toc">
          {docs.lexicons.map((l) => (
            <li key={l.id}><a href={`#${l.anchor}`}><code>{l.id}</code></a></li>
          ))}
        </ul>
        {docs.lexicons.map((l) => <Lexicon key={l.id} lex={l} />)}
      </section>
    </article>
  );
}

function ApiGuide({ docs }: { docs: InferenceDocs }) {
  const base = docs.apiBase ?? "http://localhost:2586/v1";
  const node = `import OpenAI from "openai";

const client = new OpenAI({ baseURL: "${base}", apiKey: process.env.COCORE_API_KEY });
const stream = await client.chat.completions.create({
  model: "fortunes-char",
  messages: [{ role: "user", content: "Tell me a fortune." }],
  stream: true,
});
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");`;
  const curl = `curl ${base}/models -H "authorization: Bearer $COCORE_API_KEY"

curl ${base}/chat/completions -H "authorization: Bearer $COCORE_API_KEY" \\
  -H "content-type: application/json" \\
  -d '{"model":"fortunes-char","messages":[{"role":"user","content":"Tell me a fortune."}]}'`;
  const tools = `const answer = await client.chat.completions.create({
  model: "fortunes-char",
  messages: [{ role: "user", content: "What is the weather in Lisbon?" }],
  tools: [{ type: "function", function: {
    name: "get_weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  } }],
});
const call = answer.choices[0].message.tool_calls?.[0]; // finish_reason "tool_calls"`;
  return (
    <>
      <section aria-labelledby="using-the-api">
        <h2 id="using-the-api">Using the API</h2>
        <p>
          The cooperative speaks OpenAI's chat completions API at <code>{base}</code>. Any OpenAI client works: point
          its base URL there and give it a key from <Link to="/keys">API keys</Link>. Each request becomes a job
          record in your repository, sealed to the provider that serves it; the provider's signed receipt and the
          exchange's settlement are public records, and the price is debited from your balance.
        </p>
        <h3>With the openai package</h3>
        <pre>{node}</pre>
        <h3>With curl</h3>
        <pre>{curl}</pre>
        <h3>Tool calls</h3>
        <p>
          Send <code>tools</code> (and optionally <code>tool_choice</code>); answer the call with a <code>tool</code> message
          carrying its <code>tool_call_id</code>, and the model continues. Streamed calls arrive as <code>delta.tool_calls</code> fragments
          exactly as OpenAI sends them. A model whose providers cannot call tools refuses with <code>tool_calls_not_supported</code>.
        </p>
        <pre>{tools}</pre>
        <h3>When it waits or fails</h3>
        <p>
          A burst waits in a fair queue at the matchmaker; the response headers <code>x-cocore-queue-position</code> and{" "}
          <code>x-cocore-queue-wait-ms</code> say where it stood. A full queue answers 429 <code>queue_full</code> with{" "}
          <code>Retry-After</code>. A provider that drops before its first token is replaced, and you pay only for the attempt
          that produced a receipt. Errors use OpenAI's envelope with a named <code>code</code>.
        </p>
      </section>
      <section aria-labelledby="parameters">
        <h2 id="parameters">Parameters</h2>
        <p>Served:</p>
        <ul className="inline-list" data-testid="served-parameters">
          {docs.served.map((p) => <li key={p}><code>{p}</code>{p === "n" ? " (1 only)" : ""}</li>)}
        </ul>
        <p>Refused with a 400 and the code below, never silently ignored (as is any parameter not listed on this page):</p>
        <div className="table-wrap">
          <table data-testid="refused-parameters">
            <thead><tr><th scope="col">Parameter</th><th scope="col">Code</th></tr></thead>
            <tbody>
              {docs.refused.map((r) => <tr key={r.param}><td><code>{r.param}</code></td><td><code>{r.code}</code></td></tr>)}
              <tr><td><code>n</code> other than 1</td><td><code>n_unsupported</code></td></tr>
              <tr><td>image, audio or file content parts</td><td><code>image_input_unsupported</code>, <code>audio_unsupported</code>, <code>file_input_unsupported</code></td></tr>
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="json-schema">
        <h2 id="json-schema">Structured output</h2>
        <p>
          <code>response_format</code> <code>json_object</code> or <code>json_schema</code> constrains the answer with a grammar built
          from the schema. With <code>strict: true</code> the answer always validates, so a strict schema may use only the enforced
          keywords; without it, the unenforced ones are accepted but the answer may not satisfy them. Anything else is refused with{" "}
          <code>unsupported_schema_feature</code>.
        </p>
        <dl>
          <dt>Enforced</dt>
          <dd>{docs.schemaKeywords.enforced.map((k) => <code key={k}>{k}</code>)}</dd>
          <dt>Enforced formats</dt>
          <dd>{docs.schemaKeywords.formats.map((k) => <code key={k}>{k}</code>)}</dd>
          <dt>Accepted without strict, not enforced</dt>
          <dd>{docs.schemaKeywords.unenforced.map((k) => <code key={k}>{k}</code>)}</dd>
          <dt>Annotations (ignored)</dt>
          <dd>{docs.schemaKeywords.annotations.map((k) => <code key={k}>{k}</code>)}</dd>
        </dl>
      </section>
    </>
  );
}

function Lexicon({ lex }: { lex: LexiconView }) {
  return (
    <section className="lexicon" aria-labelledby={lex.anchor} data-testid="lexicon">
      <h3 id={lex.anchor}><code>{lex.id}</code></h3>
      {lex.description ? <p>{lex.description}</p> : null}
      {lex.defs.map((d) => <Def key={d.ref} def={d} />)}
    </section>
  );
}

function Def({ def }: { def: LexiconDefView }) {
  const heading = def.name === "main" ? def.kind : `#${def.name} (${def.kind})`;
  return (
    <div className="def">
      <h4 id={def.name === "main" ? undefined : def.anchor}>
        {heading}
        {def.recordKey ? <span className="muted"> · record key {def.recordKey}</span> : null}
      </h4>
      {def.description ? <p>{def.description}</p> : null}
      {def.constraints.length > 0 ? <p className="muted">{def.constraints.join("; ")}</p> : null}
      {def.fields ? <Fields caption={`${def.ref} fields`} fields={def.fields} /> : null}
      {def.parameters && def.parameters.length > 0 ? <Fields caption={`${def.ref} parameters`} fields={def.parameters} /> : null}
      {def.input ? <Body label="Input" ref_={def.ref} body={def.input} /> : null}
      {def.output ? <Body label="Output" ref_={def.ref} body={def.output} /> : null}
      {def.errors && def.errors.length > 0 ? (
        <p>Errors: {def.errors.map((e) => <span key={e.name}><code>{e.name}</code>{e.description ? ` (${e.description})` : ""} </span>)}</p>
      ) : null}
    </div>
  );
}

function Body({ label, ref_, body }: { label: string; ref_: string; body: LexiconBody }) {
  return (
    <>
      <p>
        {label}: <code>{body.encoding}</code>
        {body.ref ? <> — <a href={`#${body.anchor}`}><code>{body.ref}</code></a></> : null}
        {body.description ? ` — ${body.description}` : null}
      </p>
      {body.fields ? <Fields caption={`${ref_} ${label.toLowerCase()}`} fields={body.fields} /> : null}
    </>
  );
}

function Fields({ caption, fields }: { caption: string; fields: LexiconField[] }) {
  if (fields.length === 0) return <p className="muted">No fields.</p>;
  return (
    <div className="table-wrap">
      <table className="fields">
        <caption className="visually-hidden">{caption}</caption>
        <thead><tr><th scope="col">Field</th><th scope="col">Type</th><th scope="col">Rules</th><th scope="col">Meaning</th></tr></thead>
        <tbody>
          {fields.map((f) => (
            <tr key={f.name}>
              <td><code>{f.name}</code>{f.required ? <span className="required"> required</span> : null}</td>
              <td>{f.anchor ? <a href={`#${f.anchor}`}><code>{f.type}</code></a> : <code>{f.type}</code>}{f.nullable ? " or null" : ""}</td>
              <td>{f.constraints.join("; ")}</td>
              <td>{f.description ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
