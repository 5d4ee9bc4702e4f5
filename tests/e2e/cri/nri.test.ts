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
import { AGENT, AgentProcess, HOOK, ROOT, sharedLibraryMounts, waitFor } from "../support.ts";
import { containerdTestLifecycle, hostNetworkPod } from "./containerd.ts";
import { IMAGE } from "./image.ts";

/** containerd 1.7.13 with NRI, beside the checkout (ARMOR_CONTAINERD_NRI names another directory). */
const CONTAINERD_1_7 = process.env.ARMOR_CONTAINERD_NRI || join(ROOT, "../shared/tools/containerd-1.7.13");
const NRI_TOML = `
[plugins."io.containerd.nri.v1.nri"]
  disable = false
  disable_connections = false
  plugin_config_path = "{dir}/nri/conf.d"
  plugin_path = "{dir}/nri/plugins"
  plugin_registration_timeout = "5s"
  plugin_request_timeout = "2s"
  socket_path = "{dir}/nri/nri.sock"
`;

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
/** A host-network pod with one container, created and started; the pod is removed after the test. */
async function runPod(namespace: string, agentSocket: string, command = SELF_CHECK): Promise<{ podId: string; id: string; uid: string; name: string }> {
  const cri = life.containerd().cri;
  const name = `nri-${++pods}`;
  const uid = `uid-${name}`;
  const config = hostNetworkPod(name, namespace, uid);
  const podId = await cri.runPodSandbox(config);
  life.defer(async () => {
    await cri.stopPodSandbox(podId).catch(() => undefined);
    await cri.removePodSandbox(podId).catch(() => undefined);
  });
  const libs = await sharedLibraryMounts(AGENT);
  const mounts = [{ source: AGENT, destination: "/armor/bin/armor-agent" }, { source: dirname(agentSocket), destination: "/armor/run" }, ...libs].map((m) => ({
    hostPath: m.source,
    containerPath: m.destination,
    readonly: true,
  }));
  const id = await cri.createContainer(podId, { metadata: { name: "app" }, image: { image: IMAGE }, command, mounts }, config);
  await cri.startContainer(id);
  return { podId, id, uid, name };
}

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
  }, 120_000);
});
