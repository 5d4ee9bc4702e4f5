/**
 * `armor-agent nri` against containerd 1.7.13 with NRI and no base spec, driven
 * through its CRI service as kubelet drives it: the hook reaches every container
 * only because the plugin injects it. Each test runs its own agent and plugin on
 * sockets of its own; the file shares one private containerd.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";
import { AGENT, AgentProcess, HOOK, run, sharedLibraryMounts, waitFor } from "../support.ts";
import { CriError, type PodSandboxConfig } from "./client.ts";
import { Containerd, CONTAINERD_NRI_DIR, containerdTestLifecycle, hostNetworkPod, NRI_TOML } from "./containerd.ts";
import { IMAGE } from "./image.ts";
import { installForContainerd } from "./node.ts";

const CONTAINERD_1_7 = CONTAINERD_NRI_DIR;
const available = existsSync(join(CONTAINERD_1_7, "containerd"));
if (!available) console.warn(`skipping the NRI suite: no containerd 1.7 at ${CONTAINERD_1_7} (set ARMOR_CONTAINERD_NRI)`);
const skipped = (): void => {};
const lifecycleHooks = available ? { beforeAll, afterEach, afterAll } : { beforeAll: skipped, afterEach: skipped, afterAll: skipped };
const life = containerdTestLifecycle("nri", lifecycleHooks, (dir) => {
  mkdirSync(join(dir, "containerd", "nri", "conf.d"), { recursive: true });
  mkdirSync(join(dir, "containerd", "nri", "plugins"), { recursive: true });
  return { binary: join(CONTAINERD_1_7, "containerd"), shimDir: CONTAINERD_1_7, extraToml: NRI_TOML };
});

const nriSocket = (): string => join(life.containerd().paths.dir, "nri", "nri.sock");

/** A running `armor-agent nri`. */
class NriProcess {
  stderr = "";
  constructor(readonly proc: Subprocess<"ignore", "ignore", "pipe">) {
    void (async () => {
      for await (const chunk of proc.stderr) this.stderr += new TextDecoder().decode(chunk);
    })();
  }
  static async start(agentSocket: string, extra: string[] = []): Promise<NriProcess> {
    const stateRoot = `runc:${life.containerd().paths.runcRoot}`;
    const argv = [AGENT, "nri", "--nri-socket", nriSocket(), "--plugin-index", "10", "--hook-path", HOOK, "--socket", agentSocket, "--state-root", stateRoot];
    const proc = Bun.spawn([...argv, ...extra], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const plugin = new NriProcess(proc);
    life.defer(() => plugin.stop());
    await waitFor("the plugin's registration", () => {
      if (proc.exitCode !== null) throw new Error(`armor-agent nri exited with ${proc.exitCode}: ${plugin.stderr}`);
      return plugin.stderr.includes("registered with the runtime's NRI");
    });
    return plugin;
  }
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill(signal);
    await this.proc.exited;
  }
}

async function agent(extra: string[] = []): Promise<AgentProcess> {
  const dir = join(life.dir(), `agent-${Math.random().toString(16).slice(2, 10)}`);
  mkdirSync(dir, { mode: 0o700 });
  const started = await AgentProcess.start(join(dir, "armor.sock"), extra);
  life.defer(() => started.stop());
  return started;
}

/**
 * The container's first command: look itself up in the agent by its own (pid, mnt)
 * namespace inodes, through the real CLI over the bind-mounted socket, and exit 42
 * at once when the agent does not hold it yet.
 */
const SELF_CHECK = [
  "sh",
  "-c",
  "p=$(busybox readlink /proc/self/ns/pid); m=$(busybox readlink /proc/self/ns/mnt); p=${p#pid:[}; m=${m#mnt:[}; /armor/bin/armor-agent lookup ${p%]} ${m%]} --socket /armor/run/armor.sock >/dev/null || exit 42; exec sleep 600",
];

let pods = 0;
interface Pod {
  podId: string;
  uid: string;
  name: string;
  config: PodSandboxConfig;
}

/** A host-network pod, running; it is removed after the test. */
async function startPod(namespace: string): Promise<Pod> {
  const cri = life.containerd().cri;
  const name = `nri-${++pods}`;
  const uid = `uid-${name}`;
  const config = hostNetworkPod(name, namespace, uid);
  const podId = await cri.runPodSandbox(config);
  life.defer(async () => {
    await cri.stopPodSandbox(podId).catch(() => undefined);
    await cri.removePodSandbox(podId).catch(() => undefined);
  });
  return { podId, uid, name, config };
}

/** Creates (CRI CreateContainer: the NRI call) and starts a container in `pod`, with the agent's CLI and socket mounted. */
async function startContainer(pod: Pod, agentSocket: string, command = SELF_CHECK): Promise<string> {
  const cri = life.containerd().cri;
  const libs = await sharedLibraryMounts(AGENT);
  const mounts = [{ source: AGENT, destination: "/armor/bin/armor-agent" }, { source: dirname(agentSocket), destination: "/armor/run" }, ...libs].map((m) => ({
    hostPath: m.source,
    containerPath: m.destination,
    readonly: true,
  }));
  const id = await cri.createContainer(pod.podId, { metadata: { name: "app" }, image: { image: IMAGE }, command, mounts }, pod.config);
  await cri.startContainer(id);
  return id;
}

async function runPod(namespace: string, agentSocket: string, command = SELF_CHECK): Promise<Pod & { id: string }> {
  const pod = await startPod(namespace);
  return { ...pod, id: await startContainer(pod, agentSocket, command) };
}

/** The ids containerd runs now: ready sandboxes and running containers. */
async function runningIds(): Promise<string[]> {
  const cri = life.containerd().cri;
  const sandboxes = (await cri.listPodSandbox({ state: { state: "SANDBOX_READY" } })).map((p) => p.id);
  const containers = (await cri.listContainers({ state: { state: "CONTAINER_RUNNING" } })).map((c) => c.id);
  return [...sandboxes, ...containers].sort();
}

const heldIds = async (a: AgentProcess): Promise<string[]> => (await a.list()).map((r) => String(r.id)).sort();

/** Whether the container still runs a second after its start: its self-check passed. */
async function stillRunning(id: string): Promise<boolean> {
  await Bun.sleep(1000);
  return (await life.containerd().cri.containerStatus(id)).state === "CONTAINER_RUNNING";
}

describe.skipIf(!available)("armor-agent nri with containerd 1.7.13 (CRI, no base spec)", () => {
  test("(a) a container is registered before its process starts, from the injected hook, with its pod identity; (d) its sandbox is held as a sandbox", async () => {
    const a = await agent();
    await NriProcess.start(a.socket);
    const { podId, id, uid, name } = await runPod("shop", a.socket);
    expect(await stillRunning(id)).toBe(true);
    const records = await a.list();
    const record = records.find((r) => r.id === id);
    expect(record).toMatchObject({ source: "hook", containerType: "container", pod: { name, namespace: "shop", uid }, containerName: "app", sandboxId: podId });
    const config = JSON.parse(readFileSync(join(life.containerd().paths.state, "io.containerd.runtime.v2.task", "k8s.io", id, "config.json"), "utf8"));
    // The entry install.sh writes, with the plugin's hook options after it, appended once.
    const entry = (stage: string) => ({
      path: HOOK,
      args: ["armor-hook", stage, "--socket", a.socket, "--timeout-ms", "2000", "--state-root", `runc:${life.containerd().paths.runcRoot}`],
      env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
      timeout: 5,
    });
    expect(config.hooks).toEqual({ createRuntime: [entry("createRuntime")], poststop: [entry("poststop")] });
    await waitFor("the sandbox's record", async () => (await a.list()).some((r) => r.id === podId));
    expect((await a.list()).find((r) => r.id === podId)).toMatchObject({
      source: "nri",
      containerType: "sandbox",
      pod: { name, namespace: "shop", uid },
      sandboxId: podId,
    });
    // A second plugin for the same agent socket would inject every hook twice: it refuses to start.
    const second = await run([AGENT, "nri", "--nri-socket", nriSocket(), "--hook-path", HOOK, "--socket", a.socket]);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`holds ${join(dirname(a.socket), "nri.lock")}; not starting a second one`);
  }, 120_000);

  test("(b) the plugin killed, a pod started, the plugin back: the container is registered within 5 s, after its start, and removed at its stop", async () => {
    const a = await agent();
    const cri = life.containerd().cri;
    await (await NriProcess.start(a.socket)).stop("SIGKILL");
    // While the plugin is down containerd creates containers without the hook: the self-check fails (the check can fail)…
    const unchecked = await runPod("shop", a.socket);
    expect(await stillRunning(unchecked.id)).toBe(false);
    expect((await cri.containerStatus(unchecked.id)).exitCode).toBe(42);
    // …and a plain container runs unheld.
    const { podId, id, name, uid } = await runPod("shop", a.socket, ["sleep", "600"]);
    expect(await heldIds(a)).not.toContain(id);

    await NriProcess.start(a.socket);
    await waitFor("the container's record from the plugin's Synchronize batch", async () => (await heldIds(a)).includes(id), 5_000);
    const records = await a.list();
    expect(records.find((r) => r.id === id)).toMatchObject({
      source: "nri",
      containerType: "container",
      pod: { name, namespace: "shop", uid },
      containerName: "app",
      sandboxId: podId,
    });
    expect(records.find((r) => r.id === podId)).toMatchObject({ source: "nri", containerType: "sandbox" });

    await cri.stopContainer(id);
    await waitFor("the container's removal at StopContainer", async () => !(await heldIds(a)).includes(id), 5_000);
    await cri.stopPodSandbox(podId);
    await waitFor("the sandbox's removal at STOP_POD_SANDBOX", async () => !(await heldIds(a)).includes(podId), 5_000);
  }, 120_000);

  test("(c) containerd restarted: the plugin reconnects and the registry still equals what runs", async () => {
    const a = await agent();
    const plugin = await NriProcess.start(a.socket);
    const before = await runPod("shop", a.socket);
    expect(await stillRunning(before.id)).toBe(true);
    await waitFor("the registry to equal what runs", async () => JSON.stringify(await heldIds(a)) === JSON.stringify(await runningIds()));

    await life.containerd().restart();
    await waitFor("the plugin's second registration", () => plugin.stderr.split("registered with the runtime's NRI").length > 2, 30_000);
    expect(plugin.stderr).toContain("the runtime closed the NRI connection; reconnecting");
    // A pod started after the restart gets the hook again, and the registry matches containerd's own list.
    const after = await runPod("shop", a.socket);
    expect(await stillRunning(after.id)).toBe(true);
    await waitFor("the registry to equal what runs", async () => JSON.stringify(await heldIds(a)) === JSON.stringify(await runningIds()));
    expect(await heldIds(a)).toEqual([before.podId, before.id, after.podId, after.id].sort());
  }, 120_000);

  test("(e) fail-closed: with the agent down, CreateContainer is refused outside the allow-list and goes ahead inside it", async () => {
    const a = await agent();
    await NriProcess.start(a.socket, ["--fail-policy", "closed"]);
    const shop = await startPod("shop");
    const system = await startPod("kube-system");
    await a.stop();
    const refused = await startContainer(shop, a.socket, ["sleep", "600"]).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(CriError);
    expect(String((refused as CriError).details)).toContain('refusing the container (fail-closed: namespace "shop" is not on the allow-list)');
    expect((await life.containerd().cri.listContainers({ podSandboxId: shop.podId })).length).toBe(0);
    // kube-system is allowed: created with its hook, which (fail-closed too) lets it start for the same reason.
    const allowed = await startContainer(system, a.socket, ["sleep", "600"]);
    expect(await stillRunning(allowed)).toBe(true);
  }, 120_000);

  test("a container whose base spec already runs armor-hook (install.sh's) gets no second entry from the plugin", async () => {
    const dir = join(life.dir(), "base-spec");
    const installed = await installForContainerd(dir);
    const cdDir = join(dir, "containerd");
    for (const sub of ["nri/conf.d", "nri/plugins"]) mkdirSync(join(cdDir, sub), { recursive: true });
    const second = await Containerd.start(cdDir, {
      binary: join(CONTAINERD_1_7, "containerd"),
      shimDir: CONTAINERD_1_7,
      extraToml: NRI_TOML,
      baseSpec: installed.baseSpec,
    });
    life.defer(() => second.stop());
    const a = await AgentProcess.start(installed.socket);
    life.defer(() => a.stop());
    const hookPath = join(installed.prefix, "armor-hook");
    const argv = [AGENT, "nri", "--nri-socket", join(cdDir, "nri", "nri.sock"), "--hook-path", hookPath, "--socket", installed.socket, "--log-level", "debug"];
    const plugin = new NriProcess(Bun.spawn([...argv, "--state-root", `runc:${second.paths.runcRoot}`], { stdin: "ignore", stdout: "ignore", stderr: "pipe" }));
    life.defer(() => plugin.stop());
    await waitFor("the plugin's registration", () => plugin.stderr.includes("registered with the runtime's NRI"));

    const config = hostNetworkPod("base-spec", "shop", "uid-base-spec");
    const podId = await second.cri.runPodSandbox(config);
    const id = await second.cri.createContainer(podId, { metadata: { name: "app" }, image: { image: IMAGE }, command: ["sleep", "600"] }, config);
    await second.cri.startContainer(id);
    const spec = JSON.parse(readFileSync(join(second.paths.state, "io.containerd.runtime.v2.task", "k8s.io", id, "config.json"), "utf8"));
    expect(spec.hooks.createRuntime.map((h: { path: string }) => h.path)).toEqual([hookPath]);
    expect(spec.hooks.poststop.map((h: { path: string }) => h.path)).toEqual([hookPath]);
    expect(plugin.stderr).toContain("container already runs armor-hook; nothing injected");
    expect((await a.list()).find((r) => r.id === id)).toMatchObject({ source: "hook", containerType: "container" });
  }, 120_000);
});
