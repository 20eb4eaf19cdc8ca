// Restart after a hard kill: the exchange runs as a child process, is SIGKILLed while receipts
// stream in, and restarts on the same database. Nothing may settle twice, balances must be exact,
// and the PDS must hold exactly one settlement record per receipt.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { listRecords, type RecordRef } from "@cocore/atproto";
import { NSID } from "@cocore/protocol";
import { consistencyCheck, openLedgerDb } from "../src/index.ts";
import { databaseFor, member, pgSkip, publishAttestation, publishJob, publishReceipt, startLocalNetwork, T0, tempDir, type Backend, type LocalNetwork } from "./support.ts";

let net: LocalNetwork;
before(async () => {
  net = await startLocalNetwork();
});
after(async () => {
  await net?.close();
});

const CHILD = fileURLToPath(new URL("./serve-child.ts", import.meta.url));

async function spawnExchange(config: Record<string, unknown>): Promise<{ child: ChildProcess; url: string; did: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: { ...process.env, COCORE_TEST_EXCHANGE: JSON.stringify(config) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.setEncoding("utf8");
  const ready = new Promise<{ url: string; did: string }>((resolve, reject) => {
    child.stdout!.on("data", (chunk: string) => {
      out += chunk;
      const m = /^ready (\S+) (\S+)$/m.exec(out);
      if (m) resolve({ did: m[1]!, url: m[2]! });
    });
    child.once("exit", (code, signal) => reject(new Error(`exchange child exited (${code ?? signal}) before it was ready`)));
  });
  return { child, ...(await ready) };
}

async function statusOf(url: string, uri: string): Promise<string | undefined> {
  const res = await fetch(`${url}/xrpc/${NSID.verifyReceipt}?${new URLSearchParams({ uri })}`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { status: string }).status;
}

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`hard kill on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    test("SIGKILL mid-stream, restart on the same database: every receipt settled once, balances exact", async () => {
      const dir = tempDir();
      const db = await databaseFor(backend, dir.path);
      const account = await net.createAccount(`exk${randomBytes(3).toString("hex")}`);
      const config = {
        db: db.url,
        pdsUrl: net.pdsUrl,
        plcUrl: net.plcUrl,
        handle: account.handle,
        password: account.password,
        stateDir: dir.path,
        schedulerIntervalMs: 0,
        publishIntervalMs: 20,
      };
      let running = await spawnExchange(config);
      try {
        const alice = await member(net, "alice");
        const bob = await member(net, "bob");
        await publishAttestation(bob);
        const prices: number[] = [];
        const receipts: RecordRef[] = [];
        const write = async (i: number) => {
          const tokensIn = 10 + i;
          const tokensOut = 30 + 2 * i;
          const j = await publishJob(alice, account.did, { createdAt: T0 + i * 1000 });
          receipts.push(await publishReceipt(bob, alice.did, j, { tokensIn, tokensOut, completedAt: T0 + i * 1000 + 1500 }));
          prices.push(tokensIn + tokensOut);
        };
        const N = 16;
        for (let i = 0; i < 8; i++) await write(i);
        // Kill once the exchange has settled some of the stream (so it dies holding state).
        const deadline = Date.now() + 15_000;
        while ((await statusOf(running.url, receipts[3]!.uri)) !== "settled" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(await statusOf(running.url, receipts[3]!.uri), "settled");
        const writing = (async () => {
          for (let i = 8; i < N; i++) await write(i);
        })();
        await new Promise((r) => setTimeout(r, 150));
        running.child.kill("SIGKILL");
        await once(running.child, "exit");
        await writing;

        running = await spawnExchange(config);
        for (const r of receipts) {
          const until = Date.now() + 20_000;
          while ((await statusOf(running.url, r.uri)) !== "settled" && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
          assert.equal(await statusOf(running.url, r.uri), "settled", r.uri);
        }
        // Let the publisher finish, then stop cleanly and look at what the two runs left behind.
        const until = Date.now() + 20_000;
        while ((await listRecords(net.pdsUrl, account.did, NSID.settlement)).length < N && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
        running.child.kill("SIGTERM");
        await once(running.child, "exit");

        const settlements = await listRecords(net.pdsUrl, account.did, NSID.settlement);
        const perReceipt = new Map<string, number>();
        for (const s of settlements) {
          const uri = (s.value.receipt as { uri: string }).uri;
          perReceipt.set(uri, (perReceipt.get(uri) ?? 0) + 1);
        }
        assert.deepEqual([...perReceipt.keys()].sort(), receipts.map((r) => r.uri).sort(), "one settlement record per receipt");
        assert.ok([...perReceipt.values()].every((n) => n === 1), "no duplicate settlement records");
        const grants = await listRecords(net.pdsUrl, account.did, NSID.tokenGrant);
        assert.deepEqual(grants.map((g) => g.value.recipient).sort(), [alice.did, bob.did].sort());

        const ldb = await openLedgerDb(db.url);
        try {
          const check = await consistencyCheck(ldb);
          assert.equal(check.ok, true, check.problems.join("; "));
          const fee = (p: number) => Math.floor((p * 500) / 10_000); // 5%, rounded down, no minimum
          const charged = prices.reduce((a, b) => a + b, 0);
          const fees = prices.reduce((a, p) => a + fee(p), 0);
          const bal = async (d: string) => Number((await ldb.db.selectFrom("accounts").select("balance").where("did", "=", d).executeTakeFirstOrThrow()).balance);
          assert.equal(await bal(alice.did), 1_000_000 - charged);
          assert.equal(await bal(bob.did), 1_000_000 + charged - fees);
          assert.equal(await bal(account.did), fees);
          const rows = await ldb.db.selectFrom("transfers").select("key").where("kind", "=", "payout").execute();
          assert.equal(rows.length, N, "one payout transfer per receipt");
          const settled = await ldb.db.selectFrom("receipts").select("uri").where("status", "=", "settled").execute();
          assert.equal(settled.length, N);
        } finally {
          await ldb.close();
        }
      } finally {
        if (running.child.exitCode === null && running.child.signalCode === null) {
          running.child.kill("SIGKILL");
          await once(running.child, "exit");
        }
        await db.drop();
        dir.remove();
      }
    });
  });
}
