// The console's shell: who is signed in, the navigation, and which page the path names. Pages
// that need a member send a visitor to sign in; the exchange's terms come before anything else.
import { useCallback, useEffect, useState, type ReactNode } from "react";
import { api } from "./api.ts";
import { Link, navigate, useLocation } from "./router.tsx";
import type { SessionInfo, TermsInfo } from "./types.ts";
import { SignIn } from "./pages/SignIn.tsx";
import { Home } from "./pages/Home.tsx";
import { Terms } from "./pages/Terms.tsx";
import { Chat } from "./pages/Chat.tsx";
import { Jobs } from "./pages/Jobs.tsx";
import { Machines } from "./pages/Machines.tsx";
import { Keys } from "./pages/Keys.tsx";
import { Docs } from "./pages/Docs.tsx";
import { Explorer } from "./pages/Explorer.tsx";
import { DevicesNew } from "./pages/DevicesNew.tsx";
import { takeReturnPath } from "./pages/SignIn.tsx";

interface PageDef {
  path: string;
  title: string;
  nav?: string;
  public?: boolean;
  render: (s: SessionInfo, refresh: () => void, loc: URL) => ReactNode;
}

const PAGES: PageDef[] = [
  { path: "/", title: "Home", nav: "Home", render: () => <Home /> },
  { path: "/chat", title: "Chat", nav: "Chat", render: () => <Chat /> },
  { path: "/jobs", title: "Jobs", nav: "Jobs", render: () => <Jobs /> },
  { path: "/machines", title: "Machines", nav: "Machines", render: () => <Machines /> },
  { path: "/keys", title: "API keys", nav: "API keys", render: () => <Keys /> },
  { path: "/explorer", title: "Explorer", nav: "Explorer", public: true, render: () => <Explorer /> },
  { path: "/docs/inference", title: "API docs", nav: "Docs", public: true, render: () => <Docs /> },
  { path: "/devices/new", title: "Pair a machine", render: (_s, _r, loc) => <DevicesNew code={loc.searchParams.get("code")} /> },
];

export function App() {
  const loc = useLocation();
  const [session, setSession] = useState<SessionInfo | undefined>();
  const [error, setError] = useState<string | undefined>();
  const refresh = useCallback(() => {
    api<SessionInfo>("/api/session").then(async (s) => {
      // The terms come before anything else a member does.
      const terms = s.signedIn ? await api<TermsInfo>("/api/terms").catch(() => undefined) : undefined;
      setSession(terms ? { ...s, terms } : s);
      // Back from the PDS's sign-in to the page that sent us there (a pairing link, say).
      const back = s.signedIn ? takeReturnPath() : undefined;
      if (back && location.pathname === "/") navigate(back);
    }, (e: Error) => {
      setSession({ signedIn: false });
      if ((e as { code?: string }).code !== "session_expired") setError(e.message);
    });
  }, []);
  useEffect(refresh, [refresh]);

  const page = PAGES.find((p) => p.path === loc.pathname);
  useEffect(() => {
    document.title = `${page?.title ?? "Sign in"} · cocore`;
  }, [page]);

  if (!session) return <main className="loading" aria-busy="true">Loading…</main>;
  const signOut = async () => {
    const r = await api<{ keptFor?: string[] }>("/api/logout", { method: "POST", body: {} });
    if (r.keptFor) setError(`Signed out. Your PDS grant stays for ${r.keptFor.join(" and ")}; revoke those to end it.`);
    setSession({ signedIn: false });
    navigate("/");
  };
  let content: ReactNode;
  if (loc.pathname === "/signin" || (!session.signedIn && !page?.public)) content = <SignIn onSignedIn={refresh} />;
  else if (!page) content = <NotFound />;
  else if (session.terms?.needed && !page.public) content = <Terms terms={session.terms} onAccepted={refresh} />;
  else content = page.render(session, refresh, loc);

  return (
    <>
      <header className="top">
        <Link to="/" className="brand">cocore</Link>
        <nav aria-label="Main">
          <ul>
            {PAGES.filter((p) => p.nav && (session.signedIn || p.public)).map((p) => (
              <li key={p.path}>
                <Link to={p.path} current={p.path === loc.pathname}>{p.nav}</Link>
              </li>
            ))}
          </ul>
        </nav>
        {session.signedIn ? (
          <div className="who">
            <span className="handle">@{session.handle}</span>
            <button type="button" onClick={() => void signOut()}>Sign out</button>
          </div>
        ) : null}
      </header>
      {error ? <p role="alert" className="error">{error}</p> : null}
      <main id="main">{content}</main>
    </>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>There is no page here. <Link to="/">Go home</Link>.</p>
    </section>
  );
}
