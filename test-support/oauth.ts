// The console's OAuth sign-in driven from Node, for integration tests that need a signed-in owner
// but no browser: the console's /api/login, the PDS's own sign-in and consent API (as its page
// calls it: navigate and same-origin fetch headers, its CSRF cookie), and the console's callback.
// Node's fetch forces `sec-fetch-mode: cors`, which the PDS refuses, hence node:http
// (../shared/OAUTH-NOTES.md). Answers the console's session cookie ("name=value").
import { request } from "node:http";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(url: string, o: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? "GET", headers: o.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

class Jar {
  private readonly map = new Map<string, string>();
  take(a: Answer): void {
    const set = a.headers["set-cookie"];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair] = line.split(";");
      const i = pair!.indexOf("=");
      if (i > 0) this.map.set(pair!.slice(0, i).trim(), pair!.slice(i + 1).trim());
    }
  }
  get(name: string): string | undefined {
    return this.map.get(name);
  }
  header(): string {
    return [...this.map].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

const NAVIGATE = { "sec-fetch-mode": "navigate", "sec-fetch-site": "none", "sec-fetch-dest": "document", accept: "text/html" };

/** Signs `account` in to the console at `consoleUrl`; returns its session cookie. */
export async function signInWithoutBrowser(consoleUrl: string, account: { handle: string; password: string }): Promise<string> {
  const login = await send(`${consoleUrl}/api/login`, { method: "POST", headers: { "content-type": "application/json", origin: consoleUrl }, body: JSON.stringify({ handle: account.handle }) });
  if (login.status !== 200) throw new Error(`console /api/login: ${login.status} ${login.body}`);
  const authorize = (JSON.parse(login.body) as { url: string }).url;
  const pds = new URL(authorize).origin;
  const jar = new Jar();
  const page = await send(authorize, { headers: NAVIGATE });
  if (page.status !== 200) throw new Error(`authorize page: ${page.status} ${page.body.slice(0, 200)}`);
  jar.take(page);
  const api = async (endpoint: string, body: unknown): Promise<Record<string, unknown>> => {
    const a = await send(`${pds}/@atproto/oauth-provider/~api${endpoint}`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: pds, referer: authorize, cookie: jar.header(), "x-csrf-token": jar.get("csrf-token") ?? "", "sec-fetch-mode": "same-origin", "sec-fetch-site": "same-origin", "sec-fetch-dest": "empty" },
      body: JSON.stringify(body),
    });
    jar.take(a);
    if (a.status !== 200) throw new Error(`PDS ${endpoint}: ${a.status} ${a.body}`);
    return JSON.parse(a.body) as Record<string, unknown>;
  };
  const signedIn = (await api("/sign-in", { locale: "en", username: account.handle, password: account.password, remember: true })) as { account: { sub?: string; did?: string } };
  const consent = (await api("/consent", { did: signedIn.account.sub ?? signedIn.account.did })) as { url: string };
  const redirect = await send(consent.url, { headers: { ...NAVIGATE, "sec-fetch-site": "same-origin", cookie: jar.header(), referer: authorize } });
  const location = redirect.headers.location;
  if (redirect.status !== 303 || typeof location !== "string") throw new Error(`authorize redirect: ${redirect.status} ${redirect.body.slice(0, 300)}`);
  const back = await send(new URL(location, consoleUrl).toString(), { headers: NAVIGATE });
  const cookie = (Array.isArray(back.headers["set-cookie"]) ? back.headers["set-cookie"][0] : back.headers["set-cookie"])?.split(";")[0];
  if (back.status !== 303 || !cookie || back.headers.location !== "/") throw new Error(`console callback: ${back.status} ${String(back.headers.location)}`);
  return cookie;
}
