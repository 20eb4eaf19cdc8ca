// The job the SDK writes always names its provider: without acceptedProviders any provider watching
// the firehose could write a receipt for the job that verifies, and be paid for it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { acceptedProvidersFor } from "../src/client.ts";
import { ClientError } from "../src/errors.ts";

const CHOSEN = "did:plc:chosen00000000000000000000";
const OTHER = "did:plc:other000000000000000000000";

test("without a caller list the job accepts only the offered provider", () => {
  assert.deepEqual(acceptedProvidersFor({ provider: CHOSEN }), [CHOSEN]);
  assert.deepEqual(acceptedProvidersFor({ provider: CHOSEN }, []), [CHOSEN]);
});

test("an explicit list is kept when it names the offered provider", () => {
  assert.deepEqual(acceptedProvidersFor({ provider: CHOSEN }, [OTHER, CHOSEN]), [OTHER, CHOSEN]);
});

test("an offer outside the caller's list is refused by name", () => {
  assert.throws(
    () => acceptedProvidersFor({ provider: CHOSEN }, [OTHER]),
    (e: unknown) => e instanceof ClientError && e.code === "offer_provider_not_accepted",
  );
});
