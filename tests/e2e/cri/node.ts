/**
 * What the CRI tests do as a node's installer and kubelet would: install.sh with every
 * path inside the test directory, pods that log there, and a pod's deletion.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT, run } from "../support.ts";
import type { PodSandboxConfig } from "./client.ts";
import { type Containerd, hostNetworkPod } from "./containerd.ts";

/** Where install.sh put what the tests use. */
export interface Installed {
  socket: string;
  baseSpec: string;
  prefix: string;
}

/** install.sh for containerd onto this host, every path inside `dir`, plus `extra` options. */
export async function installForContainerd(dir: string, extra: string[] = []): Promise<Installed> {
  const installed = { socket: join(dir, "run/armor.sock"), baseSpec: join(dir, "etc/containerd-base-spec.json"), prefix: join(dir, "lib") };
  const ran = await run([
    "sh",
    join(ROOT, "install.sh"),
    "--prefix",
    installed.prefix,
    "--hooks-dir",
    join(dir, "hooks.d"),
    "--socket",
    installed.socket,
    "--runtimes",
    "containerd",
    "--no-systemd",
    "--containerd-base-spec",
    installed.baseSpec,
    "--containerd-config",
    join(dir, "containerd-config.toml"),
    ...extra,
  ]);
  if (ran.code !== 0) throw new Error(`install.sh failed (${ran.code}): ${ran.stderr}`);
  return installed;
}

/** A host-network pod as kubelet sends it, logging under `dir/pods/<uid>`. */
export function loggedPod(dir: string, name: string, namespace: string): PodSandboxConfig {
  const uid = `uid-${name}-${process.pid}`;
  const logDirectory = join(dir, "pods", uid);
  mkdirSync(logDirectory, { recursive: true });
  return hostNetworkPod(name, namespace, uid, { logDirectory });
}

/** What kubelet does when a pod goes away: stop and remove its containers, then the sandbox. Never throws. */
export async function deletePod(containerd: Containerd, podId: string): Promise<void> {
  for (const c of await containerd.cri.listContainers({ podSandboxId: podId }).catch(() => [])) {
    await containerd.cri.stopContainer(c.id).catch(() => undefined);
    await containerd.cri.removeContainer(c.id).catch(() => undefined);
  }
  await containerd.cri.stopPodSandbox(podId).catch(() => undefined);
  await containerd.cri.removePodSandbox(podId).catch(() => undefined);
}
