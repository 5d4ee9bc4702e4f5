/**
 * The record of a container or sandbox NRI reports running: namespaces from
 * /proc/<pid>/ns and the AppArmor profile from its bundle, as the hook reads them
 * (lib/describe.ts), with the pod identity from NRI's own pod metadata — which the
 * runtime sets, where annotations are partly the pod author's.
 */
import * as v from "valibot";
import { parseStateFile, STATE_FILE, type StateRoot } from "../bootstrap/state-roots.ts";
import { ContainerInfoSchema, type ContainerInfo } from "../container.ts";
import { describeContainer } from "../describe.ts";
import { ArmorError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { readBundleConfig, type ReadText } from "../oci/bundle.ts";
import type { StatIno } from "../proc/cgroup.ts";
import type { ReadLink } from "../proc/namespaces.ts";
import type { NriRef } from "./plugin.ts";

export interface NriDescribeDeps {
  readText: ReadText;
  readLink: ReadLink;
  statIno: StatIno;
  /** runc-format roots where the runtime's runc keeps `<id>/state.json` (or `<namespace>/<id>/state.json`). */
  stateRoots: readonly StateRoot[];
  log: Logger;
}

/** containerd's CRI namespace: the only one NRI reports on in containerd 1.7. */
const CRI_NAMESPACE = "k8s.io";
const NO_BUNDLE = { apparmorProfile: null, args: [], annotations: {} };

/** The record, or undefined when the process is gone or the record would not pass the protocol's bounds. */
export async function describeNri(ref: NriRef, deps: NriDescribeDeps): Promise<ContainerInfo | undefined> {
  const bundle = await findBundle(ref, deps);
  const base = { id: ref.id, pid: ref.pid, bundle: bundle ?? "", annotations: ref.annotations };
  const config =
    bundle === undefined
      ? NO_BUNDLE
      : await readBundleConfig(bundle, deps.readText).catch((err: unknown) => {
          // The process runs: hold it without the bundle's details rather than miss it.
          deps.log("warn", "registering a container without its bundle's details", { id: ref.id, error: err instanceof Error ? err.message : String(err) });
          return NO_BUNDLE;
        });
  let info: ContainerInfo;
  try {
    info = await describeContainer(base, deps, config);
  } catch (err) {
    if (!(err instanceof ArmorError)) throw err;
    deps.log("debug", "skipping a container that stopped", { id: ref.id, error: err.message });
    return undefined;
  }
  const pod = ref.pod;
  const record: ContainerInfo = {
    ...info,
    ...(pod && pod.name !== "" && pod.namespace !== "" ? { pod: { name: pod.name, namespace: pod.namespace, uid: pod.uid === "" ? null : pod.uid } } : {}),
    containerName: ref.kind === "sandbox" ? null : ref.name || info.containerName,
    sandboxId: ref.kind === "sandbox" ? ref.id : (pod?.id ?? info.sandboxId),
    // NRI says which it is: a sandbox comes only as a pod, never as a container.
    containerType: ref.kind,
  };
  const checked = v.safeParse(ContainerInfoSchema, record);
  if (!checked.success) {
    deps.log("warn", "skipping a container whose record breaks the protocol's bounds", { id: ref.id.slice(0, 256), error: checked.issues[0]?.message });
    return undefined;
  }
  return checked.output;
}

/** The bundle runc recorded for this id and pid, if a state root has it. */
async function findBundle(ref: NriRef, deps: NriDescribeDeps): Promise<string | undefined> {
  if (!/^[\w+.-]+$/.test(ref.id)) return undefined;
  for (const root of deps.stateRoots) {
    if (root.format !== "runc") continue;
    for (const dir of [`${root.path}/${CRI_NAMESPACE}/${ref.id}`, `${root.path}/${ref.id}`]) {
      const text = await deps.readText(`${dir}/${STATE_FILE.runc}`).catch(() => undefined);
      if (text === undefined) continue;
      const entry = parseStateFile("runc", ref.id, text);
      if (typeof entry !== "string" && entry.id === ref.id && entry.pid === ref.pid) return entry.bundle;
    }
  }
  return undefined;
}
