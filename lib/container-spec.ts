/**
 * The container record's words and bounds, apart from its schemas (lib/container.ts), so the
 * hook's fast path reads them (lib/oci/kubernetes.ts, lib/proc/cgroup.ts) without building those.
 */

/** The kinds of container a CRI runtime names in its annotations: a pod's sandbox (pause) or one of its containers. */
export const CONTAINER_TYPES = ["sandbox", "container"] as const;

/** Upper bounds on strings from outside: a frame can't smuggle megabytes into the registry. */
export const MAX_ID_LENGTH = 256;
export const MAX_STRING_LENGTH = 4096;
