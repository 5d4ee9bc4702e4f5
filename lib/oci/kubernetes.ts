/**
 * Kubernetes identity from OCI annotations, as CRI-O and containerd's CRI plugin
 * write them. CRI-O's keys are tried first, then containerd's.
 */
import type { ContainerType, Pod } from "../container.ts";
import { CONTAINER_TYPES } from "../container-spec.ts";

/** The Kubernetes side of a container, each field null when no annotation names it. */
export interface KubernetesIdentity {
  pod: Pod | null;
  containerName: string | null;
  sandboxId: string | null;
  image: string | null;
  containerType: ContainerType | null;
}

const KEYS = {
  podName: ["io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name"],
  podNamespace: ["io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace"],
  podUid: ["io.kubernetes.pod.uid", "io.kubernetes.cri.sandbox-uid"],
  containerName: ["io.kubernetes.container.name", "io.kubernetes.cri.container-name"],
  sandboxId: ["io.kubernetes.cri-o.SandboxID", "io.kubernetes.cri.sandbox-id"],
  image: ["io.kubernetes.cri-o.ImageName", "io.kubernetes.cri.image-name", "io.kubernetes.cri-o.Image"],
  // Both runtimes write "sandbox" or "container"; anything else reads as unknown (null).
  containerType: ["io.kubernetes.cri-o.ContainerType", "io.kubernetes.cri.container-type"],
} as const;

/** The pod namespace alone (fail-closed's allow-list needs it even without a pod name), or null. */
export function podNamespace(annotations: Readonly<Record<string, string>>): string | null {
  for (const key of KEYS.podNamespace) {
    const value = annotations[key];
    if (value !== undefined && value !== "") return value;
  }
  return null;
}

/** Reads pod name/namespace/uid, container name, sandbox id and image from annotations. */
export function kubernetesIdentity(annotations: Readonly<Record<string, string>>): KubernetesIdentity {
  const pick = (keys: readonly string[]): string | null => {
    for (const key of keys) {
      const value = annotations[key];
      if (value !== undefined && value !== "") return value;
    }
    return null;
  };
  const name = pick(KEYS.podName);
  const namespace = pick(KEYS.podNamespace);
  return {
    pod: name !== null && namespace !== null ? { name, namespace, uid: pick(KEYS.podUid) } : null,
    containerName: pick(KEYS.containerName),
    sandboxId: pick(KEYS.sandboxId),
    image: pick(KEYS.image),
    containerType: asContainerType(pick(KEYS.containerType)),
  };
}

function asContainerType(value: string | null): ContainerType | null {
  return (CONTAINER_TYPES as readonly string[]).includes(value ?? "") ? (value as ContainerType) : null;
}
