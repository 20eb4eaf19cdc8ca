// What a route handler is given: the request, the signed-in member (if any) and the console's
// services. Handlers are thin: they read or write through these and return JSON.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Agent } from "@atproto/api";
import type { NodeOAuthClient } from "@atproto/oauth-client-node";
import type { IdResolver } from "@cocore/atproto";
import type { CocoreClient } from "@cocore/client";
import type { KeyStore } from "@cocore/gateway";
import type { ConsoleDb } from "./db.ts";
import type { DeviceStore } from "./devices.ts";
import type { WebSession, WebSessions } from "./web-session.ts";

export interface ConsoleServices {
  db: ConsoleDb;
  oauth: NodeOAuthClient;
  sessions: WebSessions;
  /** Paired machines: pairing requests, device credentials, revocation. */
  devices: DeviceStore;
  /** The API keys the gateway reads (absent: the console runs without the keys page). */
  keys?: KeyStore;
  origin: string;
  exchangeUrl: string;
  matchmakerUrl: string;
  plcUrl: string;
  idResolver: IdResolver;
  /** Where handles resolve (a PDS URL on local networks); absent: DNS/HTTPS. */
  handleResolver?: string;
  gatewayUrl?: string;
  /** An atproto Agent acting for `did` through its OAuth session. */
  agentFor(did: string): Promise<Agent>;
  /** The requester SDK acting for `did`. */
  clientFor(did: string): Promise<CocoreClient>;
  forget(did: string): void;
  log(line: string): void;
}

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: string[];
  session: WebSession | undefined;
  /** The signed-in member, or a 401 `not_signed_in`. */
  member(): WebSession;
  body(): Promise<Record<string, unknown>>;
  s: ConsoleServices;
}

/** A handler's JSON answer (sent with 200), or undefined when it wrote the response itself. */
export type Handler = (c: RouteContext) => Promise<unknown>;

export interface Route {
  method: "GET" | "POST" | "DELETE";
  /** An exact path or a pattern whose groups become `params`. */
  path: string | RegExp;
  handler: Handler;
  /** Default true for POST/DELETE: the Origin must be the console's. */
  sameOrigin?: boolean;
}
