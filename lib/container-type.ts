/**
 * The kinds of container a CRI runtime names in its annotations: a pod's sandbox (pause) or one
 * of its containers. Apart from lib/container.ts's schemas, so the hook's fast path reads them
 * (lib/oci/kubernetes.ts) without building those.
 */
export const CONTAINER_TYPES = ["sandbox", "container"] as const;
