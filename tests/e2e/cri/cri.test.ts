/**
 * The Kubernetes node path: containerd's CRI service, driven as kubelet drives it
 * (RunPodSandbox, CreateContainer, StartContainer, StopContainer, RemoveContainer,
 * StopPodSandbox, RemovePodSandbox, the List calls), runs armor-hook from the base
 * runtime spec install.sh wrote. The app container's first command asks the agent,
 * over the bind-mounted socket, whether it already holds it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT, AgentProcess, hostNamespaces, run, sharedLibraryMounts, waitFor } from "../support.ts";
import type { ContainerConfig, CriMount, PodSandboxConfig } from "./client.ts";
import { CriError } from "./client.ts";
import { type Containerd, containerdTestLifecycle } from "./containerd.ts";
import { deletePod, installForContainerd, loggedPod, type Installed } from "./node.ts";
import { IMAGE } from "./image.ts";

/** Set by the container's first command when the agent held it already. */
const MARKER = "REGISTERED-BEFORE-START";

let installed: Installed;
const life = containerdTestLifecycle("cri", { beforeAll, afterEach, afterAll }, async (dir) => {
  installed = await installForContainerd(dir, ["--fail-policy", "closed"]);
  // An administrator who passes every request annotation through: a pod author's annotations reach the spec.
  return { baseSpec: installed.baseSpec, podAnnotations: ["*"], containerAnnotations: ["*"] };
});

const pod = (name: string, namespace: string): PodSandboxConfig => loggedPod(life.dir(), name, namespace);

/** The agent binary, its libraries and the socket directory, as the test containers mount them. */
async function agentMounts(): Promise<CriMount[]> {
  const libs = await sharedLibraryMounts(AGENT);
  return [
    { containerPath: "/armor/bin/armor-agent", hostPath: AGENT, readonly: true },
    { containerPath: "/armor/run", hostPath: join(life.dir(), "run"), readonly: true },
    ...libs.map((lib) => ({ containerPath: lib.destination, hostPath: lib.source, readonly: true })),
  ];
}

/** An app container whose first command exits 42 unless the agent already holds it (found by its own namespaces). */
async function selfCheckingApp(name: string): Promise<ContainerConfig> {
  const ns = (kind: string) => `$(/bin/busybox readlink /proc/self/ns/${kind} | /bin/busybox tr -dc 0-9)`;
  const check = `/armor/bin/armor-agent lookup ${ns("pid")} ${ns("mnt")} --json --socket /armor/run/armor.sock || exit 42; echo ${MARKER}; exec sleep 600`;
  return { metadata: { name }, image: { image: IMAGE }, command: ["sh", "-c", check], mounts: await agentMounts(), logPath: `${name}.log` };
}

function containerLog(config: PodSandboxConfig, name: string): string {
  const path = join(config.logDirectory ?? "", `${name}.log`);
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

/** The init pid runc records for a CRI container of this containerd. */
async function runcPid(containerd: Containerd, id: string): Promise<number> {
  const state = await run(["runc", "--root", containerd.runcState, "state", id]);
  if (state.code !== 0) throw new Error(`runc state ${id}: ${state.stderr}`);
  return (JSON.parse(state.stdout) as { pid: number }).pid;
}

describe("containerd's CRI with the base spec install.sh wrote", () => {
  test("an app container is registered before its first command runs, with the pod identity from containerd's annotations, and gone after StopContainer", async () => {
    const containerd = life.containerd();
    const cri = containerd.cri;
    const agent = await AgentProcess.start(installed.socket);
    life.defer(() => agent.stop());

    const config = pod("web-0", "shop");
    const podId = await cri.runPodSandbox(config);
    life.defer(() => deletePod(containerd, podId));
    const id = await cri.createContainer(podId, await selfCheckingApp("nginx"), config);
    await cri.startContainer(id);
    await waitFor("the container's first command", () => containerLog(config, "nginx").includes(MARKER), 15_000).catch(async () => {
      const status = await cri.containerStatus(id);
      throw new Error(`no ${MARKER} (state ${status.state}, exit ${status.exitCode}): ${containerLog(config, "nginx")} agent: ${agent.log}`);
    });
    expect((await cri.listContainers({ podSandboxId: podId })).map((c) => [c.id, c.state, c.metadata.name])).toEqual([[id, "CONTAINER_RUNNING", "nginx"]]);

    const pid = await runcPid(containerd, id);
    const held = (await agent.list()).find((record) => record.id === id);
    expect(held).toMatchObject({
      id,
      pid,
      source: "hook",
      pod: { name: "web-0", namespace: "shop", uid: config.metadata.uid },
      containerName: "nginx",
      sandboxId: podId,
      image: IMAGE,
      containerType: "container",
    });
    expect(held?.namespaces).toEqual(hostNamespaces(pid));
    // containerd never applies base_runtime_spec to a pod's sandbox: the hook did not run for it.
    expect((await agent.list()).map((record) => record.id)).toEqual([id]);
    expect(
      JSON.parse(readFileSync(join(containerd.paths.state, "io.containerd.runtime.v2.task/k8s.io", podId, "config.json"), "utf8")).hooks ?? null,
    ).toBeNull();

    await cri.stopContainer(id);
    await waitFor(`${id} unregistered at poststop`, async () => !(await agent.list()).some((record) => record.id === id));
    await cri.removeContainer(id);
    await cri.stopPodSandbox(podId);
    await cri.removePodSandbox(podId);
    expect(await cri.listContainers({ podSandboxId: podId })).toEqual([]);
    expect((await cri.listPodSandbox()).map((p) => p.id)).not.toContain(podId);
  });

  test("fail-closed: with the agent down StartContainer is refused through CRI and the command never runs; a kube-system pod still starts, spooled, and is registered when the agent is back", async () => {
    const containerd = life.containerd();
    const cri = containerd.cri;
    // The agent has run on this node (its spool directory exists), then stops.
    const first = await AgentProcess.start(installed.socket);
    await first.stop();

    const refusedPod = pod("api-0", "shop");
    const refusedPodId = await cri.runPodSandbox(refusedPod);
    life.defer(() => deletePod(containerd, refusedPodId));
    const ran = join(life.dir(), "refused-ran");
    const refused = await cri.createContainer(
      refusedPodId,
      {
        metadata: { name: "api" },
        image: { image: IMAGE },
        command: ["sh", "-c", "echo ran >/out/ran; sleep 600"],
        mounts: [{ containerPath: "/out", hostPath: life.dir() }],
      },
      refusedPod,
    );
    const start = await cri.startContainer(refused).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(start).toBeInstanceOf(CriError);
    expect((start as CriError).details).toContain("armor-hook");
    expect((await cri.containerStatus(refused)).state).not.toBe("CONTAINER_RUNNING");
    expect(existsSync(join(ran))).toBe(false);

    const systemPod = pod("dns-0", "kube-system");
    const systemPodId = await cri.runPodSandbox(systemPod);
    life.defer(() => deletePod(containerd, systemPodId));
    const allowed = await cri.createContainer(systemPodId, { metadata: { name: "dns" }, image: { image: IMAGE }, command: ["sleep", "600"] }, systemPod);
    await cri.startContainer(allowed);
    expect((await cri.listContainers({ id: allowed })).map((c) => c.state)).toEqual(["CONTAINER_RUNNING"]);

    const agent = await AgentProcess.start(installed.socket);
    life.defer(() => agent.stop());
    await waitFor("the spooled kube-system container in the registry", async () => (await agent.list()).some((record) => record.id === allowed));
    expect((await agent.list()).find((record) => record.id === allowed)).toMatchObject({
      pod: { name: "dns-0", namespace: "kube-system" },
      containerName: "dns",
      containerType: "container",
      pid: await runcPid(containerd, allowed),
    });
    expect((await agent.list()).some((record) => record.id === refused)).toBe(false);
  });

  test("a pod author's annotations claiming kube-system, passed through to the spec, neither open fail-closed nor change the record", async () => {
    const containerd = life.containerd();
    const cri = containerd.cri;
    const claims = {
      "io.kubernetes.pod.namespace": "kube-system",
      "io.kubernetes.cri.sandbox-namespace": "kube-system",
      "io.kubernetes.cri.container-type": "sandbox",
    };
    const config = { ...pod("sneaky-0", "shop"), annotations: claims };
    const podId = await cri.runPodSandbox(config);
    life.defer(() => deletePod(containerd, podId));

    const agent = await AgentProcess.start(installed.socket);
    const held = await cri.createContainer(
      podId,
      { metadata: { name: "app" }, image: { image: IMAGE }, command: ["sleep", "600"], annotations: claims },
      config,
    );
    await cri.startContainer(held);
    // containerd's own keys win over the request's; CRI-O's key, passed through, disagrees with them: no namespace.
    expect((await agent.list()).find((record) => record.id === held)).toMatchObject({ pod: null, containerType: "container", sandboxId: podId });
    await agent.stop();

    const refused = await cri.createContainer(
      podId,
      { metadata: { name: "app2" }, image: { image: IMAGE }, command: ["sleep", "600"], annotations: claims },
      config,
    );
    const start = await cri.startContainer(refused).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(start).toBeInstanceOf(CriError);
    expect((start as CriError).details).toContain("armor-hook");
  });

  test("a reconciling agent finds the pod's sandbox, marked as one, and its app container in containerd's runc root", async () => {
    const containerd = life.containerd();
    const cri = containerd.cri;
    const config = pod("db-0", "shop");
    const podId = await cri.runPodSandbox(config);
    life.defer(() => deletePod(containerd, podId));
    const withAgent = await AgentProcess.start(installed.socket);
    const id = await cri.createContainer(podId, { metadata: { name: "db" }, image: { image: IMAGE }, command: ["sleep", "600"] }, config);
    await cri.startContainer(id);
    await withAgent.stop();

    const agent = await AgentProcess.start(installed.socket, ["--reconcile", "--state-root", `runc:${containerd.paths.runcRoot}`, "--settle-ms", "0"]);
    life.defer(() => agent.stop());
    await waitFor("the agent ready", async () => (await agent.cli(["status", "--ready"])).code === 0);
    const records = await agent.list();
    const running = (await cri.listContainers({ podSandboxId: podId })).map((c) => c.id);
    expect(running).toEqual([id]);
    const byId = new Map(records.map((record) => [record.id, record]));
    expect(byId.get(podId)).toMatchObject({
      source: "bootstrap",
      containerType: "sandbox",
      pod: { name: "db-0", namespace: "shop", uid: config.metadata.uid },
    });
    expect(byId.get(id)).toMatchObject({ source: "bootstrap", containerType: "container", containerName: "db", sandboxId: podId });
  });
});
