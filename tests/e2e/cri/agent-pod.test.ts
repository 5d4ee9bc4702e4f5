/**
 * The agent as Kubernetes runs it: a CRI container named armor-agent in the
 * armor-system namespace, with the host's PID namespace, the binaries and the socket
 * directory mounted, and containerd's runc state root mounted read-only — never a
 * runtime socket. Pods run before it. Both orders of a first apply:
 *   agent first: its container is created before the hook is installed, so no fork
 *     runs; the agent reads runtime state itself and is ready only once it has;
 *   hook first: the hook sees the agent's container created and its fork sends what
 *     runs, from containerd's runc root.
 * Either way the registry ends equal to what CRI lists as running. A container the
 * hook spooled while the agent was down is registered by the agent in its pod.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AGENT, run, sharedLibraryMounts, waitFor } from "../support.ts";
import type { ContainerConfig, CriMount, PodSandboxConfig } from "./client.ts";
import { type Containerd, containerdTestLifecycle } from "./containerd.ts";
import { deletePod, installForContainerd, loggedPod, type Installed } from "./node.ts";
import { IMAGE } from "./image.ts";

/** How long the agent waits for the hook's batch before reading runtime state itself. */
const BOOTSTRAP_WAIT_MS = 1000;

let installed: Installed;
// The hook is not installed yet: containerd starts without the base spec (agent first).
const life = containerdTestLifecycle("cri-agent-pod", { beforeAll, afterEach, afterAll }, async (dir) => {
  // This containerd's runc Root (containerd.ts): where the hook's fork reads what runs.
  installed = await installForContainerd(dir, ["--state-root", `runc:${join(dir, "containerd", "runc")}`]);
  return {};
});

function pod(name: string, namespace: string, hostPid = false): PodSandboxConfig {
  const config = loggedPod(life.dir(), name, namespace);
  if (hostPid) config.linux = { securityContext: { namespaceOptions: { network: "NODE", pid: "NODE", ipc: "POD" } } };
  return config;
}

/** A running pod with one sleeping app container; returns both ids. */
async function runApp(containerd: Containerd, name: string): Promise<{ podId: string; id: string }> {
  const config = pod(name, "shop");
  const podId = await containerd.cri.runPodSandbox(config);
  const id = await containerd.cri.createContainer(podId, { metadata: { name: "app" }, image: { image: IMAGE }, command: ["sleep", "600"] }, config);
  await containerd.cri.startContainer(id);
  return { podId, id };
}

/**
 * The agent's container as the DaemonSet describes it: hostPID, SYS_PTRACE (to read other
 * containers' /proc/<pid>/ns), the binaries read-only, the socket directory, and the runc
 * state root read-only at its host path.
 */
async function agentContainer(containerd: Containerd, socketDir: string, hostPid: boolean, attempt = 0): Promise<ContainerConfig> {
  const libs = await sharedLibraryMounts(AGENT);
  const mounts: CriMount[] = [
    { containerPath: "/opt/armor-hooks", hostPath: installed.prefix, readonly: true },
    { containerPath: "/run/armor", hostPath: socketDir },
    { containerPath: containerd.paths.runcRoot, hostPath: containerd.paths.runcRoot, readonly: true },
    ...libs.map((lib) => ({ containerPath: lib.destination, hostPath: lib.source, readonly: true })),
  ];
  return {
    metadata: { name: "armor-agent", attempt },
    image: { image: IMAGE },
    command: ["/opt/armor-hooks/armor-agent"],
    args: [
      "serve",
      "--socket",
      "/run/armor/armor.sock",
      "--bootstrap",
      "hook",
      "--bootstrap-deadline-ms",
      String(BOOTSTRAP_WAIT_MS),
      "--state-root",
      `runc:${containerd.paths.runcRoot}`,
    ],
    mounts,
    logPath: `armor-agent-${attempt}.log`,
    linux: {
      securityContext: {
        namespaceOptions: { network: "NODE", pid: hostPid ? "NODE" : "CONTAINER", ipc: "POD" },
        capabilities: { addCapabilities: ["SYS_PTRACE"] },
      },
    },
  };
}

/** The agent's pod and container, started through CRI; the host's CLI reaches it on `socketDir`. */
async function startAgentPod(
  containerd: Containerd,
  name: string,
  hostPid = true,
): Promise<{ podId: string; id: string; config: PodSandboxConfig; socket: string }> {
  const socketDir = hostPid ? join(life.dir(), "run") : join(life.dir(), `run-${name}`);
  mkdirSync(socketDir, { recursive: true });
  const config = pod(name, "armor-system", hostPid);
  const podId = await containerd.cri.runPodSandbox(config);
  life.defer(() => deletePod(containerd, podId));
  const id = await containerd.cri.createContainer(podId, await agentContainer(containerd, socketDir, hostPid), config);
  await containerd.cri.startContainer(id);
  return { podId, id, config, socket: join(socketDir, "armor.sock") };
}

async function agentStatus(socket: string): Promise<{ state: string; bootstrap: { completedBy: string | null; warning: string | null } }> {
  const ran = await run([AGENT, "status", "--json", "--socket", socket]);
  if (ran.code !== 0) throw new Error(`status: ${ran.stderr}`);
  return JSON.parse(ran.stdout);
}

async function held(socket: string): Promise<Array<Record<string, unknown>>> {
  const ran = await run([AGENT, "list", "--json", "--socket", socket]);
  if (ran.code !== 0) throw new Error(`list: ${ran.stderr}`);
  return JSON.parse(ran.stdout);
}

/** Ids of every running container and ready sandbox CRI lists. */
async function criRunning(containerd: Containerd): Promise<string[]> {
  const containers = await containerd.cri.listContainers({ state: { state: "CONTAINER_RUNNING" } });
  const sandboxes = await containerd.cri.listPodSandbox({ state: { state: "SANDBOX_READY" } });
  return [...containers.map((c) => c.id), ...sandboxes.map((s) => s.id)].sort();
}

const ids = (records: Array<Record<string, unknown>>): string[] => records.map((r) => String(r.id)).sort();

async function waitReady(socket: string, what: string): Promise<void> {
  await waitFor(what, async () => (await run([AGENT, "status", "--ready", "--socket", socket])).code === 0, 20_000);
}

describe("the agent's own pod through CRI, first apply", () => {
  test("agent first: no hook, no fork; the agent reads runtime state from its read-only mount and is ready with every pod that ran before it", async () => {
    const containerd = life.containerd();
    const before = [await runApp(containerd, "web-0"), await runApp(containerd, "web-1")];
    for (const app of before) life.defer(() => deletePod(containerd, app.podId));

    // Without the host's PID namespace it sees the state but none of the processes: never ready.
    const blind = await startAgentPod(containerd, "armor-agent-blind", false);
    await waitFor("the blind agent's own enumeration", async () => (await agentStatus(blind.socket).catch(() => null))?.bootstrap.warning != null, 20_000);
    const blindStatus = await agentStatus(blind.socket);
    expect(blindStatus.state).toBe("bootstrapping");
    expect(blindStatus.bootstrap.warning).toContain("the agent needs the host's PID namespace (hostPID)");
    expect((await run([AGENT, "status", "--ready", "--socket", blind.socket])).code).not.toBe(0);
    await deletePod(containerd, blind.podId);

    const agent = await startAgentPod(containerd, "armor-agent-0");
    // The hook is not in containerd's config: nothing registered the agent's own container or forked.
    await waitReady(agent.socket, "the agent ready after reading runtime state itself");
    const status = await agentStatus(agent.socket);
    expect(status.bootstrap.completedBy).toBe("reconcile");
    expect(status.bootstrap.warning).toContain(`no bootstrap batch arrived within ${BOOTSTRAP_WAIT_MS} ms`);
    const records = await held(agent.socket);
    for (const app of before) {
      expect(records.find((r) => r.id === app.id)).toMatchObject({
        source: "bootstrap",
        containerType: "container",
        pod: { namespace: "shop" },
        containerName: "app",
      });
      expect(records.find((r) => r.id === app.podId)).toMatchObject({ source: "bootstrap", containerType: "sandbox" });
    }
    expect(ids(records)).toEqual(await criRunning(containerd));

    // Then the installer's step: containerd restarted with the base spec; new pods go through the hook.
    await containerd.restart({ baseSpec: installed.baseSpec });
    const after = await runApp(containerd, "web-2");
    life.defer(() => deletePod(containerd, after.podId));
    expect((await held(agent.socket)).find((r) => r.id === after.id)).toMatchObject({ source: "hook", containerType: "container" });
    expect(ids(await held(agent.socket)).filter((id) => id !== after.podId)).toEqual((await criRunning(containerd)).filter((id) => id !== after.podId));
  });

  test("hook first: the hook sees the agent's container created and its fork bootstraps what runs from containerd's runc root", async () => {
    const containerd = life.containerd();
    // Pods that ran before anything was installed, then the installer's step (the base spec), then the agent.
    if (containerd.options.baseSpec !== null) await containerd.restart({ baseSpec: null });
    const before = [await runApp(containerd, "db-0"), await runApp(containerd, "db-1")];
    for (const app of before) life.defer(() => deletePod(containerd, app.podId));
    await containerd.restart({ baseSpec: installed.baseSpec });

    const agent = await startAgentPod(containerd, "armor-agent-1");
    await waitReady(agent.socket, "the agent ready with the fork's batch");
    expect((await agentStatus(agent.socket)).bootstrap).toMatchObject({ completedBy: "batch", warning: null });
    const records = await held(agent.socket);
    for (const app of before) expect(records.find((r) => r.id === app.id)).toMatchObject({ source: "bootstrap", containerType: "container" });
    expect(ids(records)).toEqual(await criRunning(containerd));
  });

  test("a container spooled while the agent's container was down is registered by the next one, which sees its pid (hostPID)", async () => {
    const containerd = life.containerd();
    if (containerd.options.baseSpec === null) await containerd.restart({ baseSpec: installed.baseSpec });
    const agent = await startAgentPod(containerd, "armor-agent-2");
    await waitReady(agent.socket, "the first agent ready");
    await containerd.cri.stopContainer(agent.id);
    await containerd.cri.removeContainer(agent.id);

    // Fail-open: the hook cannot reach the agent, starts the container and spools its add.
    const spooled = await runApp(containerd, "late-0");
    life.defer(() => deletePod(containerd, spooled.podId));
    const spool = await run(["ls", join(life.dir(), "run", "spool")]);
    expect(spool.stdout.trim()).not.toBe("");

    const next = await containerd.cri.createContainer(agent.podId, await agentContainer(containerd, join(life.dir(), "run"), true, 1), agent.config);
    await containerd.cri.startContainer(next);
    await waitReady(agent.socket, "the next agent ready");
    const record = (await held(agent.socket)).find((r) => r.id === spooled.id);
    const state = JSON.parse((await run(["runc", "--root", containerd.runcState, "state", spooled.id])).stdout) as { pid: number };
    // source "hook": the spooled add itself, replayed before the agent serves (the fork's batch never overwrites it).
    expect(record).toMatchObject({ id: spooled.id, pid: state.pid, source: "hook", containerName: "app", pod: { name: "late-0", namespace: "shop" } });
  });
});
