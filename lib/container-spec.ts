/**
 * The container record's words and bounds, apart from its schemas (lib/container.ts), so the
 * hook's fast path reads them (lib/oci/kubernetes.ts, lib/proc/cgroup.ts) without building those.
 */

/** The kinds of container a CRI runtime names in its annotations: a pod's sandbox (pause) or one of its containers. */
export const CONTAINER_TYPES = ["sandbox", "container"] as const;

/** Upper bounds on strings from outside: a frame can't smuggle megabytes into the registry. */
export const MAX_ID_LENGTH = 256;
export const MAX_STRING_LENGTH = 4096;

/** The record's strings a pod author or a runtime controls: the hook cuts them to the bounds (lib/describe.ts). */
export const TRUNCATABLE_FIELDS = [
  "bundle",
  "apparmorProfile",
  "pod.name",
  "pod.namespace",
  "pod.uid",
  "containerName",
  "sandboxId",
  "image",
  "cgroup.path",
] as const;
export type TruncatableField = (typeof TRUNCATABLE_FIELDS)[number];
/** The record the hook sends stays under this many bytes of JSON, well inside one frame (64 KiB). */
export const MAX_RECORD_BYTES = 48 * 1024;
