/**
 * The agent's own container: the hook recognises it, registers nothing, and
 * starts the detached `armor-hook bootstrap` with the options it was given.
 */
import { describe, expect, test } from "bun:test";
import { DEFAULT_SETTLE_MS, DEFAULT_STATE_ROOTS } from "../../lib/bootstrap/state-roots.ts";
import {
  bootstrapArgv,
  DEFAULT_AGENT_NAME,
  DEFAULT_BOOTSTRAP_DEADLINE_MS,
  DEFAULT_LOG_KEEP,
  DEFAULT_LOG_MAX_BYTES,
  parseHookArgs,
} from "../../lib/hook/args.ts";
import { isAgentContainer, runHook, type HookDeps } from "../../lib/hook/run.ts";
import type { RequestBody } from "../../lib/wire/messages.ts";
import { ArmorError } from "../../lib/errors.ts";
import { armorErrorOf } from "./_fixtures.ts";

const config = (args: string[], annotations: Record<string, string> = {}) => ({ apparmorProfile: null, args, annotations });

const outside = { agentName: DEFAULT_AGENT_NAME, agentNamespace: "armor-system", agentOutsideKubernetes: true };
const inKubernetes = { ...outside, agentOutsideKubernetes: false };
const pod = (namespace: string, extra: Record<string, string> = {}) => ({
  "io.kubernetes.pod.namespace": namespace,
  "io.kubernetes.pod.name": "armor-agent-x1",
  ...extra,
});

describe("isAgentContainer()", () => {
  test.each([
    ["args[0] is the agent's name", config(["armor-agent", "serve"]), undefined],
    ["args[0] is a path to the agent", config(["/usr/local/bin/armor-agent", "serve", "--bootstrap", "hook"]), undefined],
    ["CRI-O names the container so in config.json", config(["/entrypoint.sh"], { "io.kubernetes.container.name": "armor-agent" }), undefined],
    ["containerd names the container so in config.json", config(["/entrypoint.sh"], { "io.kubernetes.cri.container-name": "armor-agent" }), undefined],
    ["the OCI state's annotations name it", config(["/entrypoint.sh"]), { "io.kubernetes.container.name": "armor-agent" }],
  ])("outside Kubernetes, when the hook entry says so: recognises the agent's container when %s", (_name, bundle, stateAnnotations) => {
    expect(isAgentContainer(bundle, stateAnnotations, outside)).toBe(true);
  });

  test.each([
    ["another program", config(["nginx", "-g", "daemon off;"]), undefined],
    ["the agent's name as a later argument", config(["sh", "-c", "armor-agent"]), undefined],
    ["a longer program name", config(["/bin/armor-agent-helper"]), undefined],
    ["a directory named like the agent", config(["/armor-agent/bin/run"]), undefined],
    ["no args at all", config([]), undefined],
    ["the agent's name as the pod's name", config(["sh"], { "io.kubernetes.pod.name": "armor-agent" }), undefined],
    [
      "the state naming another container over config.json",
      config(["sh"], { "io.kubernetes.container.name": "armor-agent" }),
      { "io.kubernetes.container.name": "sidecar" },
    ],
  ])("does not take %s for the agent", (_name, bundle, stateAnnotations) => {
    expect(isAgentContainer(bundle, stateAnnotations, outside)).toBe(false);
  });

  test.each([
    [
      "a pod in any other namespace named and run like the agent",
      config(["/usr/local/bin/armor-agent"], pod("shop", { "io.kubernetes.container.name": "armor-agent" })),
    ],
    ["a pod in kube-system", config(["armor-agent"], pod("kube-system"))],
    ["a state that moves the pod into another namespace", config(["armor-agent"], pod("armor-system"))],
    [
      "a pod author's CRI-O key naming the agent's namespace beside containerd's own",
      config(["armor-agent"], {
        "io.kubernetes.cri.sandbox-namespace": "shop",
        "io.kubernetes.pod.namespace": "armor-system",
        "io.kubernetes.cri.container-name": "armor-agent",
      }),
    ],
  ])("a look-alike is no agent: %s", (_name, bundle) => {
    const stateAnnotations = _name.startsWith("a state") ? { "io.kubernetes.pod.namespace": "shop" } : undefined;
    expect(isAgentContainer(bundle, stateAnnotations, outside)).toBe(false);
    expect(isAgentContainer(bundle, stateAnnotations, inKubernetes)).toBe(false);
  });

  test("on Kubernetes, the agent's container is one in a pod of --agent-namespace", () => {
    expect(isAgentContainer(config(["/usr/local/bin/armor-agent", "serve"], pod("armor-system")), undefined, inKubernetes)).toBe(true);
    expect(isAgentContainer(config(["/entrypoint"], pod("armor-system", { "io.kubernetes.cri.container-name": "armor-agent" })), undefined, inKubernetes)).toBe(
      true,
    );
    expect(isAgentContainer(config(["/usr/local/bin/armor-agent"], pod("sec")), undefined, { ...inKubernetes, agentNamespace: "sec" })).toBe(true);
    // Its namespace alone is not enough: another workload there is not the agent.
    expect(isAgentContainer(config(["nginx"], pod("armor-system")), undefined, inKubernetes)).toBe(false);
  });

  test("without a pod, a container is the agent's only when the hook entry says the agent runs outside Kubernetes", () => {
    expect(isAgentContainer(config(["/usr/local/bin/armor-agent"]), undefined, inKubernetes)).toBe(false);
    expect(isAgentContainer(config(["/usr/local/bin/armor-agent"]), undefined, outside)).toBe(true);
  });

  test("uses the configured agent name", () => {
    expect(isAgentContainer(config(["/opt/sec/monitor"]), undefined, { ...outside, agentName: "monitor" })).toBe(true);
    expect(isAgentContainer(config(["armor-agent"]), undefined, { ...outside, agentName: "monitor" })).toBe(false);
  });
});

const BUNDLE = "/run/containers/agent/userdata";
const state = { ociVersion: "1.2.0", id: "agent-ctr", status: "created", pid: 777, bundle: BUNDLE, annotations: {} };

/** Hook deps whose bundle is the agent's; records the detached spawns and agent calls. */
function agentHarness(argv: string[], bundleConfig: object = { process: { args: ["/usr/bin/armor-agent", "serve"] } }) {
  const spawned: string[][] = [];
  const calls: RequestBody[] = [];
  const deps: HookDeps = {
    // These bundles name no pod: the entry says the agent runs outside Kubernetes.
    argv: [...argv, "--agent-outside-kubernetes"],
    readStdin: async () => JSON.stringify(state),
    readText: async (path) => {
      if (path !== `${BUNDLE}/config.json`) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return JSON.stringify(bundleConfig);
    },
    readLink: () => {
      throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    },
    statIno: () => {
      throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    },
    callAgent: async (_options, body) => {
      calls.push(body);
      throw new Error("the agent is not up: the hook must not call it for the agent's own container");
    },
    bootstrapRunning: () => false,
    spawnDetached: (args) => void spawned.push(args),
    version: "1.0.0",
  };
  return { deps, spawned, calls };
}

describe("runHook() for the agent's own container", () => {
  test("starts the detached bootstrap with its options, calls no agent, and exits 0 at once", async () => {
    const argv = ["createRuntime", "--socket", "/run/sec/agent.sock", "--timeout-ms", "500", "--state-root", "crun:/run/crun"];
    const h = agentHarness(argv);
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(h.calls).toEqual([]);
    expect(h.spawned).toEqual([bootstrapArgv(parseHookArgs(h.deps.argv))]);
    expect(h.spawned[0]).toEqual([
      "bootstrap",
      "--socket=/run/sec/agent.sock",
      "--timeout-ms=500",
      "--agent-container=",
      "--state-root=crun:/run/crun",
      `--bootstrap-deadline-ms=${DEFAULT_BOOTSTRAP_DEADLINE_MS}`,
      `--bootstrap-settle-ms=${DEFAULT_SETTLE_MS}`,
      "--bootstrap-log=/run/sec/bootstrap.log",
      `--log-max-bytes=${DEFAULT_LOG_MAX_BYTES}`,
      `--log-keep=${DEFAULT_LOG_KEEP}`,
    ]);
  });

  test("does not need the agent's process namespaces (it registers nothing)", async () => {
    const h = agentHarness([]);
    expect((await runHook(h.deps)).status).toBe(0);
    expect(h.spawned).toHaveLength(1);
  });

  test("recognises the agent by a configured name", async () => {
    const h = agentHarness(["--agent-name", "monitor"], { process: { args: ["/opt/monitor"] } });
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(h.spawned).toHaveLength(1);
  });

  test("starts no bootstrap at poststop of the agent's container, and unregisters it as any other", async () => {
    const h = agentHarness(["poststop"]);
    h.deps.callAgent = async (_o, body) => {
      h.calls.push(body);
      return { removed: false };
    };
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(h.spawned).toEqual([]);
    expect(h.calls).toEqual([{ op: "unregister", container: "agent-ctr" }]);
  });
});

describe("runHook() for a container that only looks like the agent's", () => {
  test("is registered like any other, and refused under fail-closed while the agent is down; no fork", async () => {
    const lookAlike = {
      process: { args: ["/usr/local/bin/armor-agent", "serve"] },
      annotations: { "io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "x", "io.kubernetes.container.name": "armor-agent" },
    };
    const h = agentHarness(["createRuntime", "--fail-policy=closed"], lookAlike);
    h.deps.readLink = (path) => `${path.slice(path.lastIndexOf("/") + 1)}:[4026531999]`;
    h.deps.callAgent = async (_o, body) => {
      h.calls.push(body);
      throw new ArmorError("E_AGENT_UNREACHABLE", "cannot reach agent at /run/armor/armor.sock: ENOENT");
    };
    h.deps.dirExists = async () => true;
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(7);
    expect(outcome.stderr).toContain('namespace "shop" is not on the allow-list');
    expect(h.calls.map((c) => c.op)).toEqual(["register"]);
    expect(h.spawned).toEqual([]);
  });
});

describe("runHook() hands the agent's own container to its fork", () => {
  test("starts no second fork while one runs for the socket (it holds bootstrap.lock)", async () => {
    const h = agentHarness(["createRuntime", "--socket=/run/sec/agent.sock"]);
    const asked: string[] = [];
    h.deps.bootstrapRunning = (path) => (asked.push(path), true);
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(asked).toEqual(["/run/sec/bootstrap.lock"]);
    expect(h.spawned).toEqual([]);
  });

  test("described as a hook would register it, for the fork to register once the agent answers", async () => {
    const h = agentHarness(["createRuntime"]);
    h.deps.readLink = (path) => `${path.slice(path.lastIndexOf("/") + 1)}:[4026531999]`;
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    const flag = h.spawned[0]?.find((arg) => arg.startsWith("--agent-container="));
    expect(JSON.parse(flag?.slice("--agent-container=".length) ?? "null")).toMatchObject({ id: "agent-ctr", pid: 777, bundle: BUNDLE });
    expect(h.calls).toEqual([]);
  });
});

describe("the bootstrap's command line", () => {
  test.each([
    ["defaults", []],
    [
      "every option",
      [
        "--socket",
        "/x/y.sock",
        "--timeout-ms",
        "750",
        "--bootstrap-deadline-ms",
        "9000",
        "--bootstrap-log",
        "/var/log/b.log",
        "--log-max-bytes",
        "8192",
        "--log-keep",
        "5",
        "--state-root",
        "runc:/a",
        "--state-root",
        "crun:/b",
      ],
    ],
    ["a socket at the file system root", ["--socket", "/armor.sock"]],
  ])("bootstrapArgv() round-trips through parseHookArgs() with %s", (_name, argv) => {
    const args = parseHookArgs(argv);
    const again = parseHookArgs(bootstrapArgv(args));
    expect(again.stage).toBe("bootstrap");
    expect({ ...again, stage: args.stage }).toEqual(args);
  });

  test.each([
    [["--state-root"], "--state-root needs a value"],
    [["--state-root", "runc"], '--state-root must be runc:/absolute/path or crun:/absolute/path, got "runc"'],
    [["--state-root", "youki:/run/youki"], '--state-root must be runc:/absolute/path or crun:/absolute/path, got "youki:/run/youki"'],
    [["--state-root=runc:relative"], '--state-root must be runc:/absolute/path or crun:/absolute/path, got "runc:relative"'],
    [["--bootstrap-deadline-ms", "0"], '--bootstrap-deadline-ms must be a whole number from 1 to 3600000, got "0"'],
    [["--bootstrap-deadline-ms", "3600001"], '--bootstrap-deadline-ms must be a whole number from 1 to 3600000, got "3600001"'],
    [["--bootstrap-log"], "--bootstrap-log needs a value"],
    [["--agent-name="], "--agent-name needs a value"],
  ])("refuses %p with E_USAGE", (argv, message) => {
    const err = armorErrorOf(() => parseHookArgs(argv));
    expect(err.code).toBe("E_USAGE");
    expect(err.message).toBe(message);
  });
});
