// Record keys chosen before a write (a receipt retried from the agent's queue must reuse its rkey;
// a job strong-refs its payment authorization written in the same commit): atproto TIDs from the
// official implementation, strictly increasing within the process.
import { TID } from "@atproto/common-web";

export function nextTid(): string {
  return TID.nextStr();
}
