import type { SessionInfo } from "../types.ts";

export function Home(p: { session: SessionInfo }) {
  return (
    <section>
      <h1>Home</h1>
      <p>Signed in as <strong>@{p.session.handle}</strong> (<code>{p.session.did}</code>).</p>
    </section>
  );
}
