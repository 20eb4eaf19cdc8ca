// What an owner can do about each fault a machine reports (seed 003's fault fields).
import type { MachineFault } from "../web/types.ts";

const REMEDIES: Record<string, string> = {
  "model-load-failed": "A model in desiredModels did not load: check that its GGUF file is in the agent's --models-dir (or the --model path), that the disk is not full, and that the machine has the memory for it; remove it from the desired models to clear the fault.",
  "advisor-unreachable": "The agent cannot keep a connection to its matchmaker: check the --matchmaker URL, the network and any firewall; the agent keeps retrying by itself.",
};

export function remedy(kind: MachineFault["kind"], code: string): string {
  return (
    REMEDIES[code] ??
    (kind === "engine"
      ? "The inference engine did not come up: read the agent's log, fix what it names and restart the agent."
      : kind === "attestation"
        ? "The machine could not publish a valid attestation: check its clock and its key files, then restart the agent."
        : "Check the agent's log; restart it once the cause is fixed.")
  );
}
