/** Which container is the agent's own: for it the hook registers nothing and starts the bootstrap fork. */
import type { BundleConfig } from "../oci/bundle.ts";
import { kubernetesIdentity } from "../oci/kubernetes.ts";

/** The agent's own container: process.args[0]'s basename or its container-name annotation is the agent's name. */
export function isAgentContainer(config: BundleConfig, stateAnnotations: Readonly<Record<string, string>> | undefined, agentName: string): boolean {
  const arg0 = config.args[0];
  if (arg0 !== undefined && arg0.slice(arg0.lastIndexOf("/") + 1) === agentName) return true;
  return kubernetesIdentity({ ...config.annotations, ...stateAnnotations }).containerName === agentName;
}
