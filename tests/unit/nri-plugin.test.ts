/**
 * armor-agent nri's behaviour: NriPlugin against a fake agent, then the whole
 * plugin connection against a fake runtime that speaks NRI's mux and ttrpc over a
 * real UNIX socket (built from lib/nri's own codec, checked against byte fixtures
 * in nri-wire.test.ts), and the command line.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import type { ContainerInfo } from "../../lib/container.ts";
import { HOOK_FLAGS, parseHookArgs } from "../../lib/hook/args.ts";
import { nriArgsTable, parseNriArgs } from "../../lib/nri/args.ts";
import { connectNri, nriComponent } from "../../lib/nri/connection.ts";
import { DEFAULT_HOOK_PATH, HOOK_ENV, hookEntries, runtimeTimeoutSeconds } from "../../lib/nri/hook-entry.ts";
import {
  CONTAINER_STATE,
  decodeRpcRequest,
  encodeRpcResponse,
  NRI_EVENT,
  PLUGIN_SERVICE,
  RPC_CODE,
  type Container,
  type OciHook,
  type PodSandbox,
} from "../../lib/nri/messages.ts";
import { MuxDecoder, muxFrames } from "../../lib/nri/mux.ts";
import { ProtoWriter, readFields, text } from "../../lib/nri/proto.ts";
import { NriPlugin, RETRY_MIN_MS, type AgentPort, type NriRef, type PluginOptions } from "../../lib/nri/plugin.ts";
import { MESSAGE_TYPE, RpcError, TtrpcConn } from "../../lib/nri/ttrpc.ts";
import { describeNri } from "../../lib/nri/describe.ts";
import { FakeHost } from "./_fake-host.ts";
import { armorErrorOf, containerInfo, recordingLogger, rejectionOf, tempDir } from "./_fixtures.ts";

const HOOKS = hookEntries({ hookPath: "/opt/armor-hook", hookArgs: ["--socket", "/run/a/armor.sock", "--timeout-ms", "2000"], timeoutMs: 2000 });

function pod(overrides: Partial<PodSandbox> = {}): PodSandbox {
  return { id: "pod1", name: "web-0", uid: "uid-1", namespace: "shop", annotations: {}, pid: 100, cgroupsPath: "", ...overrides };
}

function container(overrides: Partial<Container> = {}): Container {
  return {
    id: "c1",
    podSandboxId: "pod1",
    name: "app",
    state: CONTAINER_STATE.RUNNING,
    annotations: {},
    args: ["/bin/app"],
    hooks: { createRuntime: [], poststop: [], all: [] },
    pid: 200,
    cgroupsPath: "",
    ...overrides,
  };
}

/** An agent that records what it was told and can be made to fail. */
class FakeAgent implements AgentPort {
  calls: string[] = [];
  up = true;
  failNext = 0;
  async batch(records: readonly ContainerInfo[]): Promise<void> {
    this.#maybeFail();
    this.calls.push(`batch ${records.map((r) => `${r.id}:${r.containerType}`).join(",")}`);
  }
  async register(record: ContainerInfo): Promise<void> {
    this.#maybeFail();
    this.calls.push(`register ${record.id}:${record.containerType}`);
  }
  async unregister(id: string): Promise<void> {
    this.#maybeFail();
    this.calls.push(`unregister ${id}`);
  }
  async reachable(): Promise<boolean> {
    this.calls.push("ping");
    return this.up;
  }
  #maybeFail(): void {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error("agent down");
    }
  }
}

const describeRef = async (ref: NriRef): Promise<ContainerInfo> => containerInfo({ id: ref.id, pid: ref.pid, containerType: ref.kind });

function plugin(options: Partial<PluginOptions> = {}, agent = new FakeAgent(), everStarted = true) {
  const { log } = recordingLogger();
  const p = new NriPlugin(
    {
      hooks: HOOKS,
      hookPath: "/opt/armor-hook",
      failPolicy: "open",
      failAllowNamespaces: ["kube-system", "armor-system"],
      agentNamespace: "armor-system",
      agentName: "armor-agent",
      ...options,
    },
    { agent, describe: describeRef, agentEverStarted: () => everStarted, log },
  );
  return { p, agent };
}

const plugins: NriPlugin[] = [];
afterEach(() => {
  for (const p of plugins.splice(0)) p.stop();
});

describe("NriPlugin.createContainer()", () => {
  test("injects the createRuntime and poststop entries, without asking the agent under fail-open", async () => {
    const { p, agent } = plugin();
    expect(await p.createContainer(pod(), container())).toEqual(HOOKS);
    expect(agent.calls).toEqual([]);
  });

  test.each([
    ["the same path", { path: "/opt/armor-hook", args: ["x"], env: [] }],
    ["another armor-hook binary", { path: "/usr/lib/armor-hook", args: ["armor-hook", "createRuntime"], env: [] }],
    ["argv[0] armor-hook", { path: "/elsewhere/hook", args: ["armor-hook"], env: [] }],
  ] as Array<[string, OciHook]>)("skips a container that already runs our hook (%s)", async (_what, hook) => {
    const { p } = plugin();
    expect(await p.createContainer(pod(), container({ hooks: { createRuntime: [hook], poststop: [], all: [hook] } }))).toBeNull();
  });

  test("another tool's hook does not count as ours", async () => {
    const { p } = plugin();
    const other = { path: "/usr/bin/nvidia-hook", args: ["nvidia-hook"], env: [] };
    expect(await p.createContainer(pod(), container({ hooks: { createRuntime: [other], poststop: [], all: [other] } }))).toEqual(HOOKS);
  });

  test("fail-closed: an agent that answers its ping gets the container its hooks", async () => {
    const { p, agent } = plugin({ failPolicy: "closed" });
    expect(await p.createContainer(pod(), container())).toEqual(HOOKS);
    expect(agent.calls).toEqual(["ping"]);
  });

  test("fail-closed: an unreachable agent refuses the container with an error status naming why", async () => {
    const agent = new FakeAgent();
    agent.up = false;
    const { p } = plugin({ failPolicy: "closed" }, agent);
    const err = await p.createContainer(pod(), container()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe(RPC_CODE.FAILED_PRECONDITION);
    expect((err as RpcError).message).toContain('refusing the container (fail-closed: namespace "shop" is not on the allow-list)');
  });

  test.each([
    ["an allowed namespace", pod({ namespace: "kube-system" }), container(), true],
    ["the agent's own container (by name)", pod({ namespace: "armor-system", name: "x" }), container({ name: "armor-agent" }), true],
    [
      "the agent's own container (by argv[0])",
      pod({ namespace: "armor-system", name: "x" }),
      container({ args: ["/usr/local/bin/armor-agent", "serve"] }),
      true,
    ],
    ["a container named armor-agent in another namespace", pod({ namespace: "shop" }), container({ name: "armor-agent" }), false],
    ["a command named armor-agent in another namespace", pod({ namespace: "shop" }), container({ args: ["/tmp/armor-agent"] }), false],
    ["the agent's own pod", pod({ namespace: "armor-system", name: "armor-agent-x7k2p" }), container({ name: "nri" }), true],
    ["a pod named like the agent elsewhere", pod({ namespace: "shop", name: "armor-agent-x7k2p" }), container({ name: "nri" }), false],
    [
      "annotations naming an allowed namespace (the pod's metadata decides)",
      pod({ namespace: "shop" }),
      container({ annotations: { "io.kubernetes.cri.sandbox-namespace": "kube-system", "io.kubernetes.pod.namespace": "kube-system" } }),
      false,
    ],
    ["no pod at all", null, container(), false],
  ])("fail-closed with the agent down: %s", async (_what, thePod, theContainer, starts) => {
    const agent = new FakeAgent();
    agent.up = false;
    const { p } = plugin({ failPolicy: "closed", failAllowNamespaces: ["kube-system"] }, agent);
    const outcome = await p.createContainer(thePod, theContainer).then(
      (hooks) => (hooks ? "hooks" : "none"),
      () => "refused",
    );
    expect(outcome).toBe(starts ? "hooks" : "refused");
  });

  test("fail-closed on a node where the agent never started: the container starts", async () => {
    const agent = new FakeAgent();
    agent.up = false;
    const { p } = plugin({ failPolicy: "closed" }, agent, false);
    expect(await p.createContainer(pod(), container())).toEqual(HOOKS);
  });
});

describe("NriPlugin: what the agent is told", () => {
  test("Synchronize: one batch of every running container and sandbox; stopped ones and pid 0 left out", async () => {
    const { p, agent } = plugin();
    plugins.push(p);
    p.synchronize(
      [pod(), pod({ id: "pod-gone", pid: 0 })],
      [
        container(),
        container({ id: "c-stopped", state: CONTAINER_STATE.STOPPED }),
        container({ id: "c-nopid", pid: 0 }),
        container({ id: "c2", state: CONTAINER_STATE.CREATED, pid: 201 }),
      ],
    );
    await p.idle();
    expect(agent.calls).toEqual(["batch pod1:sandbox,c1:container,c2:container"]);
  });

  test("a second Synchronize removes what the plugin held and the runtime no longer lists", async () => {
    const { p, agent } = plugin();
    plugins.push(p);
    p.synchronize([pod()], [container(), container({ id: "c2", pid: 201 })]);
    p.synchronize([pod()], [container()]);
    await p.idle();
    expect(agent.calls).toEqual(["batch pod1:sandbox,c1:container,c2:container", "batch pod1:sandbox,c1:container", "unregister c2"]);
  });

  test("sandboxes register when they run and go when they stop; containers go at StopContainer and REMOVE_CONTAINER", async () => {
    const { p, agent } = plugin();
    plugins.push(p);
    p.stateChange(NRI_EVENT.RUN_POD_SANDBOX, pod({ id: "pod2" }), null);
    p.stopContainer(container({ id: "c9" }));
    p.stateChange(NRI_EVENT.REMOVE_CONTAINER, pod(), container({ id: "c9" }));
    p.stateChange(NRI_EVENT.STOP_POD_SANDBOX, pod({ id: "pod2" }), null);
    p.stateChange(NRI_EVENT.START_CONTAINER, pod(), container({ id: "c10" }));
    await p.idle();
    expect(agent.calls).toEqual(["register pod2:sandbox", "unregister c9", "unregister c9", "unregister pod2"]);
  });

  test("events queued behind a Synchronize reach the agent after its batch, in order", async () => {
    const { p, agent } = plugin();
    plugins.push(p);
    p.synchronize([], [container()]);
    p.stopContainer(container());
    await p.idle();
    expect(agent.calls).toEqual(["batch c1:container", "unregister c1"]);
  });

  test("when the agent fails, everything held is sent again as one batch, then the removals, until it lands", async () => {
    const agent = new FakeAgent();
    const { p } = plugin({}, agent);
    plugins.push(p);
    p.synchronize([], [container(), container({ id: "c2", pid: 201 })]);
    await p.idle();
    agent.failNext = 2;
    p.stopContainer(container({ id: "c2" }));
    p.stateChange(NRI_EVENT.RUN_POD_SANDBOX, pod({ id: "pod3" }), null);
    await p.idle();
    expect(p.retrying).toBe(true);
    await Bun.sleep(RETRY_MIN_MS * 4);
    await p.idle();
    expect(agent.calls).toEqual(["batch c1:container,c2:container", "batch c1:container", "unregister c2", "register pod3:sandbox"]);
    expect(p.retrying).toBe(false);
  });
});

describe("hook entry (lib/nri/hook-entry.ts)", () => {
  test("is the entry install.sh writes: same env, runtime timeout ⌈ms/1000⌉ + 3 s, argv armor-hook STAGE then the options", () => {
    const install = readFileSync(join(import.meta.dir, "../../install.sh"), "utf8");
    expect(install).toContain(`HOOK_ENV=${HOOK_ENV.join("")}\n`);
    expect(install).toContain("HOOK_TIMEOUT_S=$(((TIMEOUT_MS + 999) / 1000 + 3))");
    expect(install).toContain(`HOOK_BIN=$PREFIX/armor-hook`);
    expect(DEFAULT_HOOK_PATH).toBe("/usr/local/lib/armor-hooks/armor-hook");
    expect(install).toMatch(/PREFIX=\/usr\/local\/lib\/armor-hooks\b/);
    expect([runtimeTimeoutSeconds(2000), runtimeTimeoutSeconds(2001), runtimeTimeoutSeconds(1)]).toEqual([5, 6, 4]);
    expect(HOOKS.poststop[0]).toEqual({
      path: "/opt/armor-hook",
      args: ["armor-hook", "poststop", "--socket", "/run/a/armor.sock", "--timeout-ms", "2000"],
      env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
      timeout: 5,
    });
  });
});

describe("parseNriArgs()", () => {
  test("own flags are taken out; the hook's options pass through, --socket and --timeout-ms first", () => {
    const args = parseNriArgs([
      "--nri-socket=/x/nri.sock",
      "--fail-policy",
      "closed",
      "--plugin-index",
      "05",
      "--socket",
      "/run/a.sock",
      "--no-log-file",
      "--hook-path",
      "/h",
    ]);
    expect(args).toEqual({
      nriSocket: "/x/nri.sock",
      pluginIndex: "05",
      hookPath: "/h",
      logLevel: "info",
      hookArgv: ["--socket", "/run/a.sock", "--timeout-ms", "2000", "--fail-policy", "closed", "--no-log-file"],
    });
    expect(parseHookArgs(args.hookArgv)).toMatchObject({ failPolicy: "closed", socket: "/run/a.sock", noLogFile: true });
  });

  test.each([
    ["--plugin-index", "1"],
    ["--plugin-index", "100"],
    ["--plugin-index", "ab"],
    ["--log-level", "loud"],
    ["--nri-socket", "relative.sock"],
    ["--hook-path", ""],
  ])("refuses %s %p", (flag, value) => {
    expect(armorErrorOf(() => parseNriArgs([flag, value])).code).toBe("E_USAGE");
  });

  test("the command's table lists its own flags and every armor-hook option but --help/--version, from HOOK_FLAGS", () => {
    const table = nriArgsTable(Object.values(HOOK_FLAGS));
    const hookNames = Object.values(HOOK_FLAGS)
      .map((f) => f.name.slice(2))
      .filter((n) => n !== "help" && n !== "version");
    expect(Object.keys(table).sort()).toEqual([...new Set(["nri-socket", "plugin-index", "hook-path", "log-level", ...hookNames])].sort());
    expect(table["no-log-file"]?.type).toBe("boolean");
    expect(table["fail-policy"]?.type).toBe("string");
  });
});

/** A fake runtime: NRI's side of the socket, built from the same mux and ttrpc. */
class FakeRuntime {
  readonly socketPath: string;
  readonly registrations: string[] = [];
  #listener: ReturnType<typeof Bun.listen>;
  #conns: Array<{ socket: Socket<undefined>; plugin: TtrpcConn }> = [];
  #waiters: Array<() => void> = [];

  constructor(dir: string) {
    this.socketPath = join(dir, "nri.sock");
    this.#listener = Bun.listen<undefined>({
      unix: this.socketPath,
      socket: {
        open: (socket) => {
          const decoder = new MuxDecoder();
          const send = (conn: number) => (b: Uint8Array) => {
            for (const frame of muxFrames(conn, b)) socket.write(frame);
          };
          // conn 2: the Runtime service, which the plugin calls.
          const runtime = new TtrpcConn(send(2), async (_service, method, payload) => {
            const fields = [...readFields(payload)];
            this.registrations.push(`${method} ${fields.map((f) => (f.wire === 2 ? text(f.value) : f.value)).join(" ")}`);
            for (const resolve of this.#waiters.splice(0)) resolve();
            return new Uint8Array(0);
          });
          // conn 1: the Plugin service, which the runtime calls.
          const plugin = new TtrpcConn(send(1), async () => new Uint8Array(0));
          this.#conns.push({ socket, plugin });
          (socket as unknown as { decode: (chunk: Uint8Array) => void }).decode = (chunk) => {
            for (const { conn, payload } of decoder.push(chunk)) (conn === 1 ? plugin : runtime).receive(payload);
          };
        },
        data: (socket, chunk) => (socket as unknown as { decode: (chunk: Uint8Array) => void }).decode(chunk),
      },
    });
  }

  async registered(count: number): Promise<void> {
    while (this.registrations.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Calls the plugin on the newest connection. */
  call(method: string, payload: Uint8Array): Promise<Uint8Array> {
    const conn = this.#conns.at(-1);
    if (!conn) throw new Error("no plugin connected");
    return conn.plugin.call(PLUGIN_SERVICE, method, payload, 2000);
  }

  /** Drops every connection, as a restarting containerd does. */
  dropAll(): void {
    for (const { socket } of this.#conns.splice(0)) socket.end();
  }

  stop(): void {
    this.dropAll();
    this.#listener.stop(true);
  }
}

describe("the plugin's connection against a fake runtime", () => {
  test("registers as NN-armor-hooks, configures its events, answers CreateContainer with the hook entries, and reconnects after the runtime goes", async () => {
    const dir = tempDir("nri-conn-");
    const runtime = new FakeRuntime(dir.dir);
    const { log } = recordingLogger();
    const agent = new FakeAgent();
    const { p } = plugin({}, agent);
    const component = nriComponent({ nriSocket: runtime.socketPath, pluginIndex: "42", plugin: p, log });
    try {
      component.start();
      await runtime.registered(1);
      expect(runtime.registrations).toEqual(["RegisterPlugin armor-hooks 42"]);
      const configured = [...readFields(await runtime.call("Configure", new ProtoWriter().string(2, "containerd").finish()))];
      expect(configured).toEqual([{ field: 2, wire: 0, value: p.eventMask() }]);
      // CreateContainerRequest {pod 1, container 2 {id 1, name 3}}: the answer's adjustment carries the entries.
      const request = new ProtoWriter()
        .message(1, (w) => w.string(1, "pod1").string(4, "shop"))
        .message(2, (w) => w.string(1, "c1").string(3, "app"))
        .finish();
      const answer = await runtime.call("CreateContainer", request);
      expect(Buffer.from(answer).includes(Buffer.from("/opt/armor-hook"))).toBe(true);
      expect(Buffer.from(answer).includes(Buffer.from("createRuntime"))).toBe(true);
      // Synchronize answers at once; the batch follows.
      const sync = new ProtoWriter().message(2, (w) => w.string(1, "c7").uint(4, 3).uint(12, 77)).finish();
      expect(await runtime.call("Synchronize", sync)).toEqual(new Uint8Array(0));
      await p.idle();
      expect(agent.calls).toEqual(["batch c7:container"]);
      expect((await rejectionOf(runtime.call("NoSuchMethod", new Uint8Array(0)))).message).toContain(`status ${RPC_CODE.UNIMPLEMENTED}`);

      runtime.dropAll();
      await runtime.registered(2);
      expect(runtime.registrations[1]).toBe("RegisterPlugin armor-hooks 42");
    } finally {
      component.stop();
      runtime.stop();
      dir.remove();
    }
  });

  test("no runtime at the socket is E_SOCKET; a runtime that refuses the registration is E_PROTOCOL", async () => {
    const dir = tempDir("nri-conn-");
    const { log } = recordingLogger();
    const { p } = plugin();
    try {
      const missing = await rejectionOf(connectNri({ nriSocket: join(dir.dir, "none.sock"), pluginIndex: "10", plugin: p, log }));
      expect(missing.code).toBe("E_SOCKET");
      const refusing = Bun.listen<undefined>({
        unix: join(dir.dir, "refuse.sock"),
        socket: {
          data: (socket, chunk) => {
            for (const { payload } of new MuxDecoder().push(chunk)) {
              const streamId = new DataView(payload.buffer, payload.byteOffset).getUint32(4);
              decodeRpcRequest(payload.subarray(10));
              const body = encodeRpcResponse({ code: RPC_CODE.INVALID_ARGUMENT, message: "invalid plugin index", payload: new Uint8Array(0) });
              const message = new Uint8Array(10 + body.length);
              new DataView(message.buffer).setUint32(0, body.length);
              new DataView(message.buffer).setUint32(4, streamId);
              message[8] = MESSAGE_TYPE.response;
              message.set(body, 10);
              for (const frame of muxFrames(2, message)) socket.write(frame);
            }
          },
        },
      });
      const refused = await rejectionOf(connectNri({ nriSocket: join(dir.dir, "refuse.sock"), pluginIndex: "10", plugin: p, log }));
      expect(refused.code).toBe("E_PROTOCOL");
      expect(refused.message).toContain("invalid plugin index");
      refusing.stop(true);
    } finally {
      dir.remove();
    }
  });
});

describe("describeNri(): the record of what NRI reports running", () => {
  const ROOT = "/run/containerd/runc";
  const host = (): FakeHost =>
    new FakeHost()
      .process(200, 5)
      .runc(`${ROOT}/k8s.io`, "c1", 200, 5, "/bundles/c1")
      .bundle("/bundles/c1", { process: { apparmorProfile: "cri-containerd.apparmor.d" } });
  const ref = (overrides: Partial<NriRef> = {}): NriRef => ({ kind: "container", id: "c1", pid: 200, name: "app", annotations: {}, pod: pod(), ...overrides });
  const deps = (h: FakeHost) => ({ ...h.deps, stateRoots: [{ format: "runc" as const, path: ROOT }], log: recordingLogger().log });

  test("namespaces from /proc, AppArmor from the bundle runc recorded, identity from NRI's pod metadata", async () => {
    expect(await describeNri(ref({ annotations: { "io.kubernetes.cri.image-name": "nginx:1.27" } }), deps(host()))).toEqual({
      id: "c1",
      pid: 200,
      bundle: "/bundles/c1",
      namespaces: { pid: 2001, mnt: 2002, net: 2003 },
      apparmorProfile: "cri-containerd.apparmor.d",
      pod: { name: "web-0", namespace: "shop", uid: "uid-1" },
      containerName: "app",
      sandboxId: "pod1",
      image: "nginx:1.27",
      containerType: "container",
      cgroup: null,
    });
  });

  test("annotations a pod author wrote cannot change the pod identity or the type", async () => {
    const forged = {
      "io.kubernetes.cri.sandbox-namespace": "kube-system",
      "io.kubernetes.pod.namespace": "kube-system",
      "io.kubernetes.cri.sandbox-name": "coredns",
      "io.kubernetes.cri.container-type": "sandbox",
      "io.kubernetes.cri.sandbox-id": "other",
    };
    const record = await describeNri(ref({ annotations: forged }), deps(host()));
    expect(record).toMatchObject({ pod: { name: "web-0", namespace: "shop" }, containerType: "container", sandboxId: "pod1" });
  });

  test("a sandbox: its own id as sandboxId, no container name", async () => {
    const h = new FakeHost().process(100, 3);
    expect(await describeNri(ref({ kind: "sandbox", id: "pod1", pid: 100, name: "" }), deps(h))).toMatchObject({
      id: "pod1",
      containerType: "sandbox",
      sandboxId: "pod1",
      containerName: null,
      bundle: "",
      apparmorProfile: null,
    });
  });

  test("a state whose pid is not NRI's names no bundle; a process that is gone gives no record", async () => {
    const h = host();
    h.runc(`${ROOT}/k8s.io`, "c1", 999, 5, "/bundles/elsewhere");
    expect(await describeNri(ref(), deps(h))).toMatchObject({ bundle: "", apparmorProfile: null });
    expect(await describeNri(ref({ pid: 4242 }), deps(host()))).toBeUndefined();
  });

  test("a record beyond the protocol's bounds is dropped, not sent", async () => {
    expect(await describeNri(ref({ pod: pod({ name: "x".repeat(5000) }) }), deps(host()))).toBeUndefined();
  });
});
