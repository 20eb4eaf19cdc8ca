// A router of a few lines: the path is state, links push history entries.
import { useEffect, useState, type MouseEvent, type ReactNode } from "react";

export function navigate(to: string): void {
  history.pushState(null, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function useLocation(): URL {
  const [href, setHref] = useState(location.href);
  useEffect(() => {
    const on = () => setHref(location.href);
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return new URL(href);
}

export function Link(p: { to: string; children: ReactNode; className?: string; current?: boolean }) {
  const click = (e: MouseEvent) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(p.to);
  };
  return (
    <a href={p.to} onClick={click} className={p.className} aria-current={p.current ? "page" : undefined}>
      {p.children}
    </a>
  );
}
