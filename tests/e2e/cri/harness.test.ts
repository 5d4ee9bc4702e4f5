/**
 * The CRI harness itself: a private containerd runs a kubelet-style pod through its
 * CRI service with every trace of it under its own directory, and leaves nothing
 * running or mounted once stopped.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, removeDir } from "../support.ts";
import { Containerd, containerdTestLifecycle, hostNetworkPod } from "./containerd.ts";
import { IMAGE } from "./image.ts";

const life = containerdTestLifecycle("cri-harness", { beforeAll, afterEach, afterAll });

describe("the private containerd", () => {
  test("runs a pod and a container through CRI with runc's state under its own root, not the host's", async () => {
    const containerd = life.containerd();
    const cri = containerd.cri;
    expect((await cri.version()).runtimeApiVersion).toBe("v1");
    const pod = hostNetworkPod("harness", "default", "uid-harness");
    const podId = await cri.runPodSandbox(pod);
    const id = await cri.createContainer(podId, { metadata: { name: "app" }, image: { image: IMAGE }, command: ["sleep", "600"] }, pod);
    await cri.startContainer(id);
    expect((await cri.listContainers({ podSandboxId: podId })).map((c) => [c.id, c.state])).toEqual([[id, "CONTAINER_RUNNING"]]);
    expect((await cri.listPodSandbox()).map((p) => [p.id, p.state, p.metadata.name])).toEqual([[podId, "SANDBOX_READY", "harness"]]);
    // Both the sandbox and the app container live in the instance's runc root.
    expect(readdirSync(containerd.runcState).sort()).toEqual([podId, id].sort());
    expect(existsSync(join("/run/containerd/runc/k8s.io", id))).toBe(false);

    await cri.stopContainer(id);
    await cri.removeContainer(id);
    await cri.stopPodSandbox(podId);
    await cri.removePodSandbox(podId);
    expect(await cri.listPodSandbox()).toEqual([]);
    expect(readdirSync(containerd.runcState)).toEqual([]);
  });

  test("stop() removes what is still running and leaves no process or mount behind", async () => {
    const dir = tempDir("cri-harness-stop");
    try {
      const containerd = await Containerd.start(join(dir, "containerd"));
      const pod = hostNetworkPod("left-running", "default", "uid-left");
      const podId = await containerd.cri.runPodSandbox(pod);
      const id = await containerd.cri.createContainer(podId, { metadata: { name: "app" }, image: { image: IMAGE }, command: ["sleep", "600"] }, pod);
      await containerd.cri.startContainer(id);
      await containerd.stop();
      const mine = readdirSync("/proc")
        .filter((name) => /^\d+$/.test(name))
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir);
          } catch {
            return false;
          }
        });
      expect(mine).toEqual([]);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(dir);
      expect(readdirSync(containerd.runcState)).toEqual([]);
    } finally {
      removeDir(dir);
    }
  });
});
