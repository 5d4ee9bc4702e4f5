/**
 * Which container is the agent's own: for it the hook registers nothing itself and starts
 * the bootstrap fork. A pod author controls names, annotations and args, so a name alone
 * decides nothing on Kubernetes: the pod's namespace must be the agent's (only the cluster's
 * administrators create pods there). A container without a pod is the agent's only when the
 * hook entry says the agent runs outside Kubernetes (`--agent-outside-kubernetes`).
 * Anything else that merely looks like the agent is registered like any other container
 * and obeys the fail policy.
 */
import type { BundleConfig } from "../oci/bundle.ts";
import { kubernetesIdentity, namesPodNamespace, podNamespace } from "../oci/kubernetes.ts";

/** What the hook entry says of the agent (HookArgs). */
export interface AgentIdentity {
  agentName: string;
  agentNamespace: string;
  agentOutsideKubernetes: boolean;
}

/** Whether a container being created is the agent's own. */
export function isAgentContainer(config: BundleConfig, stateAnnotations: Readonly<Record<string, string>> | undefined, agent: AgentIdentity): boolean {
  const annotations = { ...config.annotations, ...stateAnnotations };
  const namespace = podNamespace(annotations);
  // Keys that disagree name no namespace, yet the container is in a pod: never the agent's.
  if (namespace === null ? !agent.agentOutsideKubernetes || namesPodNamespace(annotations) : namespace !== agent.agentNamespace) return false;
  const arg0 = config.args[0];
  if (arg0 !== undefined && arg0.slice(arg0.lastIndexOf("/") + 1) === agent.agentName) return true;
  return kubernetesIdentity(annotations).containerName === agent.agentName;
}
