// Numbers and times as a person reads them. Amounts are integers of tokens (TOK).
export const tok = (n: number): string => `${n.toLocaleString("en-US")} TOK`;
export const num = (n: number): string => n.toLocaleString("en-US");
export const when = (iso: string | undefined): string => (iso ? new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }) : "—");
export const short = (s: string, n = 10): string => (s.length > n * 2 + 1 ? `${s.slice(0, n)}…${s.slice(-6)}` : s);
/** A public record's address in the Explorer. */
export const explore = (uri: string): string => `/explorer?q=${encodeURIComponent(uri)}`;
