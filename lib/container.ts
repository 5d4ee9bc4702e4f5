/**
 * The Container record both sides share: what the hook sends at createRuntime
 * and what the agent holds, lists and streams.
 */
import * as v from "valibot";
import { CONTAINER_TYPES, MAX_ID_LENGTH, MAX_STRING_LENGTH, TRUNCATABLE_FIELDS } from "./container-spec.ts";

// Defined beside the reader of /proc/<pid>/ns: the hook's fast path imports that, not these schemas.
export { NAMESPACE_KINDS, type NamespaceKind } from "./proc/namespaces.ts";

export { MAX_ID_LENGTH, MAX_STRING_LENGTH };

const boundedString = v.pipe(v.string(), v.maxLength(MAX_STRING_LENGTH));
const nullableString = v.nullable(boundedString);
const inode = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER));

/** runc's rule for container ids (`^[\w+-\.]+$`), bounded in length. */
export const ContainerIdSchema = v.pipe(
  v.string(),
  v.minLength(1, "container id is empty"),
  v.maxLength(MAX_ID_LENGTH, `container id is longer than ${MAX_ID_LENGTH} characters`),
  v.regex(/^[\w+.-]+$/, "container id has characters outside [A-Za-z0-9_+.-]"),
);

export const NamespacesSchema = v.strictObject({
  pid: v.optional(inode),
  mnt: v.optional(inode),
  net: v.optional(inode),
  uts: v.optional(inode),
  ipc: v.optional(inode),
  cgroup: v.optional(inode),
  user: v.optional(inode),
  time: v.optional(inode),
});
export type Namespaces = v.InferOutput<typeof NamespacesSchema>;

export const PodSchema = v.strictObject({
  name: boundedString,
  namespace: boundedString,
  uid: nullableString,
});
export type Pod = v.InferOutput<typeof PodSchema>;

/**
 * Where a record came from: a live hook, the enumeration of containers that predate
 * the agent, `armor-agent nri` (a container the runtime listed at Synchronize, or a
 * sandbox it reported running), or the polling baseline (`serve --mode poll`) that
 * benchmarks compare against.
 */
export const SourceSchema = v.picklist(["hook", "bootstrap", "nri", "poll"]);
export type Source = v.InferOutput<typeof SourceSchema>;

/**
 * What a container is to its pod, from the runtime's annotations: the pod's sandbox
 * (the pause container that holds its namespaces) or one of its containers. null
 * outside Kubernetes-style runtimes, or when no annotation says.
 */
export { CONTAINER_TYPES };
export const ContainerTypeSchema = v.picklist(CONTAINER_TYPES);
export type ContainerType = v.InferOutput<typeof ContainerTypeSchema>;

/**
 * Sources of records taken after the container's process started. They follow the
 * pre-existing batch's ordering rules: they never overwrite a live hook's record and
 * never resurrect an id a live removal took away (PROTOCOL.md).
 */
export const AFTER_START_SOURCES = ["bootstrap", "nri"] as const satisfies readonly Source[];
export type AfterStartSource = (typeof AFTER_START_SOURCES)[number];
export const isAfterStart = (source: Source): source is AfterStartSource => source === "bootstrap" || source === "nri";

/**
 * The container's cgroup v2 identity: `path`, the `0::` line of /proc/<pid>/cgroup (as
 * the reader's cgroup namespace shows it), and `id`, the inode of that directory under
 * the cgroup2 mount — what bpf_get_current_cgroup_id() returns for its tasks — or null
 * where no cgroup2 hierarchy is mounted (or the directory could not be looked at).
 */
export const CgroupSchema = v.strictObject({
  path: boundedString,
  id: v.nullable(inode),
});
export type Cgroup = v.InferOutput<typeof CgroupSchema>;

/** What the hook knows about a container at createRuntime. */
export const ContainerInfoSchema = v.strictObject({
  id: ContainerIdSchema,
  pid: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(2 ** 31 - 1)),
  bundle: boundedString,
  namespaces: NamespacesSchema,
  apparmorProfile: nullableString,
  pod: v.nullable(PodSchema),
  containerName: nullableString,
  sandboxId: nullableString,
  image: nullableString,
  /** Optional on the wire (null when absent), so a hook of the previous build still registers. */
  containerType: v.optional(v.nullable(ContainerTypeSchema), null),
  /** Null when the process shows no cgroup v2 line (a pure cgroup v1 host); absent from older senders: null. */
  cgroup: v.optional(v.nullable(CgroupSchema), null),
  /** The fields the hook cut to fit the bounds (each then ends with "…"); absent when none was. */
  truncated: v.exactOptional(v.pipe(v.array(v.picklist(TRUNCATABLE_FIELDS)), v.maxLength(TRUNCATABLE_FIELDS.length))),
});
export type ContainerInfo = v.InferOutput<typeof ContainerInfoSchema>;

/** A container as the agent holds it. */
export const ContainerSchema = v.strictObject({
  ...ContainerInfoSchema.entries,
  source: SourceSchema,
  registeredAt: v.pipe(v.string(), v.isoTimestamp()),
});
export type Container = v.InferOutput<typeof ContainerSchema>;
