import { benchSettle } from "./settle.ts";
console.log(await benchSettle({ receipts: 10000, pgUrl: "postgres://nope@127.0.0.1:1/x" }));
const g = (globalThis as any).__qstats as Map<string, number[]>;
for (const [k, v] of [...g].sort((a, b) => b[1][1] - a[1][1]).slice(0, 25)) console.log(v[1].toFixed(0).padStart(6), String(v[0]).padStart(5), k);
