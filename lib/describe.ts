/**
 * Builds the record of one container from what the host shows of it: namespaces
 * from /proc/<pid>/ns, the cgroup from /proc/<pid>/cgroup (lib/proc/cgroup.ts), AppArmor
 * profile and annotations from the bundle's config.json. The live hook and the bootstrap enumeration share it.
 */
import type { Cgroup, ContainerInfo, Namespaces } from "./container.ts";
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
  return {
    id: ref.id,
    pid: ref.pid,
    bundle: ref.bundle,
    namespaces,
    apparmorProfile: config.apparmorProfile,
    ...kubernetesIdentity({ ...config.annotations, ...ref.annotations }),
    cgroup,
  };
}
