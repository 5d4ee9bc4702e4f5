/**
 * Builds the record of one container from what the host shows of it: namespaces
 * from /proc/<pid>/ns, the cgroup from /proc/<pid>/cgroup (lib/proc/cgroup.ts), AppArmor
 * profile and annotations from the bundle's config.json. The live hook and the bootstrap enumeration share it.
 */
import type { Cgroup, ContainerInfo, Namespaces } from "./container.ts";
import { MAX_RECORD_BYTES, MAX_STRING_LENGTH, type TruncatableField } from "./container-spec.ts";
import { readBundleConfig, type BundleConfig, type ReadText } from "./oci/bundle.ts";
import { kubernetesIdentity } from "./oci/kubernetes.ts";
import { readCgroup, type StatIno } from "./proc/cgroup.ts";
import { readNamespaces, type ReadLink } from "./proc/namespaces.ts";

/** What is known of a container before looking at the host. */
export interface ContainerRef {
  id: string;
  pid: number;
  bundle: string;
  /** Annotations from the OCI state; they win over config.json's. */
  annotations?: Readonly<Record<string, string>> | undefined;
}

/** What describing reads the host with. */
export interface DescribeDeps {
  readText: ReadText;
  readLink: ReadLink;
  /** stat(2)'s inode: the cgroup id is the inode of the container's cgroup2 directory. */
  statIno: StatIno;
}

/** Reads the host's view of `ref`; throws E_PROCESS_GONE or E_BUNDLE. */
export async function describeContainer(ref: ContainerRef, deps: DescribeDeps, config?: BundleConfig): Promise<ContainerInfo> {
  const namespaces = readNamespaces(ref.pid, deps.readLink);
  const cgroup = readCgroup(ref.pid, deps);
  return describeWith(ref, config ?? (await readBundleConfig(ref.bundle, deps.readText)), namespaces, await cgroup);
}

/**
 * The record from what was read: synchronous, for the hook's fast path (lib/hook/fast.ts),
 * which reads /proc and config.json itself.
 */
export function describeWith(ref: ContainerRef, config: BundleConfig, namespaces: Namespaces, cgroup: Cgroup | null): ContainerInfo {
  return bounded({
    id: ref.id,
    pid: ref.pid,
    bundle: ref.bundle,
    namespaces,
    apparmorProfile: config.apparmorProfile,
    ...kubernetesIdentity({ ...config.annotations, ...ref.annotations }),
    cgroup,
  });
}

/**
 * The record cut to the agent's bounds, so a container is never failed for its metadata
 * (a 5,000-character pod name): each string at most MAX_STRING_LENGTH, the whole under
 * MAX_RECORD_BYTES (halving the longest field until it fits), each cut field ending with
 * "…" and named in `truncated`. The id is not cut: it is the container's identity.
 */
export function bounded(record: ContainerInfo): ContainerInfo {
  // The common case, cheaply: every string short, and short enough in all that no byte count is needed.
  const { pod, cgroup } = record;
  let total = 0;
  for (const value of [
    record.bundle,
    record.apparmorProfile,
    pod?.name,
    pod?.namespace,
    pod?.uid,
    record.containerName,
    record.sandboxId,
    record.image,
    cgroup?.path,
  ]) {
    if (value == null) continue;
    if (value.length > MAX_STRING_LENGTH) return cut(record);
    total += value.length;
  }
  // A UTF-16 unit is at most 3 bytes of UTF-8; the rest of the record (id, inodes, keys) is far under 2 KiB.
  return total * 3 + 2048 <= MAX_RECORD_BYTES ? record : cut(record);
}

function cut(record: ContainerInfo): ContainerInfo {
  const fields: Array<[TruncatableField, () => string | null, (value: string) => void]> = [
    ["bundle", () => record.bundle, (s) => void (record.bundle = s)],
    ["apparmorProfile", () => record.apparmorProfile, (s) => void (record.apparmorProfile = s)],
    ["pod.name", () => record.pod?.name ?? null, (s) => void (record.pod && (record.pod.name = s))],
    ["pod.namespace", () => record.pod?.namespace ?? null, (s) => void (record.pod && (record.pod.namespace = s))],
    ["pod.uid", () => record.pod?.uid ?? null, (s) => void (record.pod && (record.pod.uid = s))],
    ["containerName", () => record.containerName, (s) => void (record.containerName = s)],
    ["sandboxId", () => record.sandboxId, (s) => void (record.sandboxId = s)],
    ["image", () => record.image, (s) => void (record.image = s)],
    ["cgroup.path", () => record.cgroup?.path ?? null, (s) => void (record.cgroup && (record.cgroup.path = s))],
  ];
  const cut = new Set<TruncatableField>();
  const shorten = (field: (typeof fields)[number], length: number): void => {
    const value = field[1]();
    if (value === null || value.length <= length) return;
    let end = Math.max(0, length - 1);
    // Never split a surrogate pair.
    if (end > 0 && /[\ud800-\udbff]/.test(value[end - 1] as string)) end -= 1;
    field[2](`${value.slice(0, end)}…`);
    cut.add(field[0]);
  };
  for (const field of fields) shorten(field, MAX_STRING_LENGTH);
  // Multi-byte characters can still make the record too large for one frame.
  while (new TextEncoder().encode(JSON.stringify(record)).length > MAX_RECORD_BYTES) {
    const longest = fields.reduce((a, b) => ((b[1]()?.length ?? 0) > (a[1]()?.length ?? 0) ? b : a));
    const length = longest[1]()?.length ?? 0;
    if (length <= 1) break;
    shorten(longest, Math.floor(length / 2));
  }
  if (cut.size > 0) record.truncated = fields.map((field) => field[0]).filter((name) => cut.has(name));
  return record;
}
