import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { insertMany, insertNew, selectByKeys, type BulkSpec, type LookupSpec } from "../src/db/bulk.ts";
import { openLedgerDb, type LedgerDb } from "../src/index.ts";
import { databaseFor, pgSkip, tempDir, type Backend } from "./support.ts";

// The hot-path bulk statements (db/bulk.ts) against both dialects, with awkward values.
const META: BulkSpec = { table: "meta", columns: [["key", "text"], ["value", "text"]], conflict: { target: ["key"] } };
const META_UPSERT: BulkSpec = { table: "meta", columns: [["key", "text"], ["value", "text"]], conflict: { target: ["key"], update: ["value"] } };
const META_BY_KEY: LookupSpec = { table: "meta", columns: ["key", "value"], keys: ["key"] };
const NONCES: BulkSpec = { table: "nonces", columns: [["requester", "text"], ["nonce", "text"], ["auth_uri", "text"], ["job_uri", "text"]] };
const NONCE_BY_KEY: LookupSpec = { table: "nonces", columns: ["requester", "nonce", "job_uri"], keys: ["requester", "nonce"], where: "job_uri <> 'hidden'" };

const awkward = ['plain', 'quo"te', "back\\slash", "new\nline", "é€😀", "{\"json\": [1, 2]}", "", "x".repeat(5000)];

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`bulk statements on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    const dir = tempDir();
    const opened: { ldb: LedgerDb; drop(): Promise<void> }[] = [];
    const open = async () => {
      const db = await databaseFor(backend, dir.path);
      const ldb = await openLedgerDb(db.url);
      opened.push({ ldb, drop: db.drop });
      return ldb;
    };
    after(async () => {
      for (const o of opened) {
        await o.ldb.close();
        await o.drop();
      }
      dir.remove();
    });

    test("values round-trip exactly, in sets large and small; a lone surrogate becomes U+FFFD", async () => {
      const ldb = await open();
      const rows = awkward.map((v, i) => [`k${i}`, v] as const);
      await ldb.write((tx) => insertMany(ldb, tx, META, [...rows, ["lone", "a\uD800b"]]));
      for (const keys of [rows.slice(0, 2), rows]) {
        const got = await ldb.write((tx) => selectByKeys<{ key: string; value: string }>(ldb, tx, META_BY_KEY, keys.map(([k]) => [k])));
        assert.deepEqual(new Map(got.map((r) => [r.key, r.value])), new Map(keys));
      }
      const lone = await ldb.db.selectFrom("meta").select("value").where("key", "=", "lone").executeTakeFirstOrThrow();
      // PostgreSQL: U+FFFD (bulk.ts); SQLite stores what better-sqlite3's UTF-8 encoding makes of it.
      if (backend === "postgres") assert.equal(lone.value, "a\uFFFDb");
      else assert.match(lone.value, /^a.+b$/u);
      // Upsert: the conflicting row takes the new value.
      await ldb.write((tx) => insertMany(ldb, tx, META_UPSERT, [["k0", "changed"]]));
      const k0 = await ldb.db.selectFrom("meta").select("value").where("key", "=", "k0").executeTakeFirstOrThrow();
      assert.equal(k0.value, "changed");
    });

    test("insertNew reports exactly the rows whose key was present, and refuses a repeated key", async () => {
      const ldb = await open();
      await ldb.write((tx) => insertMany(ldb, tx, META, [["a", "1"], ["c", "3"]]));
      const skipped = await ldb.write((tx) => insertNew(ldb, tx, META, [["a", "x"], ["b", "2"], ["c", "y"], ["d", "4"]]));
      assert.deepEqual(skipped, [0, 2]);
      const all = await ldb.db.selectFrom("meta").select(["key", "value"]).where("key", "in", ["a", "b", "c", "d"]).orderBy("key").execute();
      assert.deepEqual(all, [{ key: "a", value: "1" }, { key: "b", value: "2" }, { key: "c", value: "3" }, { key: "d", value: "4" }]);
      await assert.rejects(ldb.write((tx) => insertNew(ldb, tx, META, [["e", "1"], ["e", "2"]])), /repeats/);
    });

    test("multi-column set lookups honour the extra condition", async () => {
      const ldb = await open();
      const rows = Array.from({ length: 40 }, (_, i) => [`did:plc:r${i % 4}`, `n${i}`, "at://a", i === 7 ? "hidden" : `at://j${i}`] as const);
      await ldb.write((tx) => insertMany(ldb, tx, NONCES, rows));
      for (const n of [3, 40]) {
        const keys = rows.slice(0, n).map((r) => [r[0], r[1]]);
        const got = await ldb.write((tx) => selectByKeys<{ nonce: string }>(ldb, tx, NONCE_BY_KEY, [...keys, ["did:plc:r0", "absent"]]));
        assert.deepEqual(got.map((g) => g.nonce).sort(), rows.slice(0, n).filter((r) => r[3] !== "hidden").map((r) => r[1]).sort());
      }
    });
  });
}
