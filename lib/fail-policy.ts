/**
 * What happens to a container whose registration the agent could not confirm
 * (unreachable, busy, silent): the failure policy and its exceptions. Pure, and
 * shared: the hook applies it at createRuntime, `armor-agent nri` at CreateContainer.
 */
import type { Stage } from "./oci/state.ts";

/** open: a container whose registration cannot be confirmed starts anyway; closed: it is refused. */
export type FailPolicy = "open" | "closed";

/** The decision, with the reason that goes into the hook's log line. */
export type FailureVerdict = { action: "start"; reason: string } | { action: "refuse"; reason: string };

/** What is known of the container and the node when the agent could not be asked. */
export interface FailureFacts {
  policy: FailPolicy;
  stage: Stage | undefined;
  /** The pod namespace from the annotations, null when none names one (or they were never read). */
  namespace: string | null;
  allowNamespaces: readonly string[];
  /** False when the agent has never started on this node: its spool directory does not exist. */
  agentEverStarted: boolean;
}

/**
 * Fail-open starts every container. Fail-closed refuses a container at createRuntime,
 * unless its namespace is allowed or the agent never started here (a node without
 * an agent yet must still boot its pods). A poststop is never refused: the container
 * is gone either way.
 */
export function failureVerdict(facts: FailureFacts): FailureVerdict {
  if (facts.policy === "open") return { action: "start", reason: "continuing without the agent (fail-open)" };
  if (facts.stage === "poststop") return { action: "start", reason: "the container has stopped; nothing to refuse (fail-closed)" };
  if (facts.namespace !== null && facts.allowNamespaces.includes(facts.namespace)) {
    return { action: "start", reason: `starting it anyway: namespace "${facts.namespace}" is on the allow-list (fail-closed)` };
  }
  if (!facts.agentEverStarted)
    return { action: "start", reason: "starting it anyway: the agent has never started on this node (no spool directory) (fail-closed)" };
  const which = facts.namespace === null ? "it names no pod namespace" : `namespace "${facts.namespace}" is not on the allow-list`;
  return { action: "refuse", reason: `refusing the container (fail-closed: ${which})` };
}
