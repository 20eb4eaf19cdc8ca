// Sign in with a handle: the console asks the member's own PDS, which shows its sign-in and
// consent pages; no password is ever typed here.
import { useState, type FormEvent } from "react";
import { api } from "../api.ts";

const RETURN_KEY = "cocore.signin.return";

/** The page a visitor was on when sent to sign in (once; only a path of this origin). */
export function takeReturnPath(): string | undefined {
  const back = sessionStorage.getItem(RETURN_KEY) ?? undefined;
  sessionStorage.removeItem(RETURN_KEY);
  return back?.startsWith("/") && !back.startsWith("//") ? back : undefined;
}

export function SignIn(_: { onSignedIn: () => void }) {
  const params = new URLSearchParams(location.search);
  const [handle, setHandle] = useState("");
  const [error, setError] = useState<string | undefined>(params.get("error") ?? undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const { url } = await api<{ url: string }>("/api/login", { body: { handle } });
      if (location.pathname !== "/" && location.pathname !== "/signin") sessionStorage.setItem(RETURN_KEY, location.pathname + location.search);
      location.assign(url);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <section className="signin">
      <h1>Sign in to cocore</h1>
      <p>Use your AT Protocol handle. Your own PDS asks you to approve the console; cocore never sees your password.</p>
      <form onSubmit={(e) => void submit(e)}>
        <label htmlFor="handle">Handle</label>
        <input id="handle" name="handle" autoComplete="username" placeholder="alice.bsky.social" value={handle} onChange={(e) => setHandle(e.target.value)} required />
        <button type="submit" disabled={busy}>{busy ? "Redirecting…" : "Sign in"}</button>
      </form>
      {error ? <p role="alert" className="error">{error}</p> : null}
    </section>
  );
}
