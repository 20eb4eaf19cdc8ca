// Serves the built browser app from dist/: hashed assets cached for good, every other GET path
// answered with index.html so the app's own router shows the page (/home, /devices/new, …).
import { readFileSync, statSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
};

// No script, style, font or frame from anywhere but the console itself.
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export class StaticFiles {
  private index: Buffer | undefined;
  constructor(private readonly dir: string) {}

  get built(): boolean {
    try {
      return statSync(join(this.dir, "index.html")).isFile();
    } catch {
      return false;
    }
  }

  serve(pathname: string, res: ServerResponse): void {
    const headers = { "content-security-policy": CSP, "x-content-type-options": "nosniff", "referrer-policy": "same-origin" };
    if (pathname.startsWith("/assets/")) {
      const file = normalize(join(this.dir, pathname));
      if (!file.startsWith(join(this.dir, "assets") + sep)) return this.notFound(res);
      let body: Buffer;
      try {
        body = readFileSync(file);
      } catch {
        return this.notFound(res);
      }
      res.writeHead(200, { ...headers, "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "public, max-age=31536000, immutable", "content-length": body.length });
      res.end(body);
      return;
    }
    if (!this.built) {
      res.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
      res.end("The console has not been built: run `./cocore console build`.\n");
      return;
    }
    this.index ??= readFileSync(join(this.dir, "index.html"));
    res.writeHead(200, { ...headers, "content-type": TYPES[".html"]!, "cache-control": "no-cache", "content-length": this.index.length });
    res.end(this.index);
  }

  private notFound(res: ServerResponse): void {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("not found\n");
  }
}
