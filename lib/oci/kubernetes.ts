/**
 * Kubernetes identity from OCI annotations, as CRI-O and containerd's CRI plugin
 * write them. Each runtime writes only its own keys, but passes a pod author's
 * annotations through where its administrator allows it (containerd's `pod_annotations`,
 * CRI-O's `allowed_annotations`): the other runtime's key can then be the pod author's.
 * So where two keys of one field disagree, the field is unknown (null) — a pod in "shop"
 * that also claims `io.kubernetes.pod.namespace: kube-system` names no namespace, so
 * fail-closed's allow-list and the agent's-own-container test never take its word.
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
  image: ["io.kubernetes.cri-o.ImageName", "io.kubernetes.cri.image-name"],
  // CRI-O also writes the image's id: the name when it wrote none.
  imageId: ["io.kubernetes.cri-o.Image"],
  // Both runtimes write "sandbox" or "container"; anything else reads as unknown (null).
  containerType: ["io.kubernetes.cri-o.ContainerType", "io.kubernetes.cri.container-type"],
} as const;

/** The one value the keys give (empty values are none), or null when none does or two disagree. */
function agreed(annotations: Readonly<Record<string, string>>, keys: readonly string[]): string | null {
  let found: string | null = null;
  for (const key of keys) {
    const value = annotations[key];
    if (value === undefined || value === "") continue;
    if (found !== null && value !== found) return null;
    found = value;
  }
  return found;
}

/** Whether any key names a pod namespace, agreeing or not: such a container is in a pod. */
export function namesPodNamespace(annotations: Readonly<Record<string, string>>): boolean {
  return KEYS.podNamespace.some((key) => (annotations[key] ?? "") !== "");
}

/** The pod namespace alone (fail-closed's allow-list needs it even without a pod name), or null (none, or disagreeing keys). */
export function podNamespace(annotations: Readonly<Record<string, string>>): string | null {
  return agreed(annotations, KEYS.podNamespace);
}

/** Reads pod name/namespace/uid, container name, sandbox id and image from annotations. */
export function kubernetesIdentity(annotations: Readonly<Record<string, string>>): KubernetesIdentity {
  const pick = (keys: readonly string[]): string | null => agreed(annotations, keys);
  const name = pick(KEYS.podName);
  const namespace = pick(KEYS.podNamespace);
  return {
    pod: name !== null && namespace !== null ? { name, namespace, uid: pick(KEYS.podUid) } : null,
    containerName: pick(KEYS.containerName),
    sandboxId: pick(KEYS.sandboxId),
    // Keys that disagree on the name leave the image unknown, never the id in its place.
    image: pick(KEYS.image) ?? (KEYS.image.some((key) => (annotations[key] ?? "") !== "") ? null : pick(KEYS.imageId)),
    containerType: asContainerType(pick(KEYS.containerType)),
  };
}

function asContainerType(value: string | null): ContainerType | null {
  return (CONTAINER_TYPES as readonly string[]).includes(value ?? "") ? (value as ContainerType) : null;
}
