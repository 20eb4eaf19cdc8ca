// An exchange in a child process, for tests that kill it hard (SIGKILL). Config: JSON in
// COCORE_TEST_EXCHANGE. Prints one line `ready <did> <url>` on stdout once serving.
import { startExchange, type ExchangeConfig } from "../src/index.ts";

const config = JSON.parse(process.env.COCORE_TEST_EXCHANGE ?? "{}") as ExchangeConfig;
const ex = await startExchange({ ...config, log: (line) => process.stderr.write(`child exchange: ${line}\n`) });
process.stdout.write(`ready ${ex.did} ${ex.url}\n`);
process.once("SIGTERM", () => {
  void ex.close().then(() => process.exit(0));
});
