import { describe, expect, test } from "bun:test";
import type { ClientOptions } from "../../lib/client.ts";
import type { ContainerInfo } from "../../lib/container.ts";
import { ArmorError } from "../../lib/errors.ts";
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, hookUsage, type LogSettings } from "../../lib/hook/args.ts";
import { MAX_LOG_LINE_BYTES, type HookLogRecord } from "../../lib/hook-log-record.ts";
import { runHook, type HookDeps, type HookOutcome } from "../../lib/hook/run.ts";
import type { RequestBody } from "../../lib/wire/messages.ts";

const BUNDLE = "/run/containers/abc/userdata";
const PID = 4242;

const createdState = { ociVersion: "1.2.0", id: "abc", status: "created", pid: PID, bundle: BUNDLE, annotations: {} };

const bundleConfig = {
  ociVersion: "1.2.0",
  process: { args: ["nginx"], apparmorProfile: "armor-nginx" },
  annotations: {
    "io.kubernetes.pod.name": "web-0",
    "io.kubernetes.pod.namespace": "shop",
    "io.kubernetes.pod.uid": "uid-1",
    "io.kubernetes.container.name": "nginx",
  },
};

const links: Record<string, string> = {
  pid: "pid:[4026532101]",
  mnt: "mnt:[4026532102]",
  net: "net:[4026532103]",
  uts: "uts:[4026532104]",
  ipc: "ipc:[4026532105]",
  cgroup: "cgroup:[4026532106]",
  user: "user:[4026531837]",
};

const errno = (code: string): Error => Object.assign(new Error(`${code}: fake`), { code });

/** An agent that holds what it is sent, as the real dispatch answers. */
const agreeingAgent = async (_options: ClientOptions, body: RequestBody): Promise<unknown> => {
  if (body.op === "register") return { container: { ...body.container, source: body.source, registeredAt: "2025-01-01T00:00:00.000Z" }, outcome: "added" };
  if (body.op === "unregister") return { removed: true };
  throw new Error(`unexpected op ${body.op}`);
};

interface Harness {
  deps: HookDeps;
  calls: Array<{ options: ClientOptions; body: RequestBody }>;
  stdinReads: () => number;
}

/** Hook deps over a fake runtime: state on stdin, a bundle, /proc links and an agent. */
function harness(
  overrides: {
    argv?: string[];
    stdin?: string;
    config?: string | undefined;
    links?: Record<string, string>;
    agent?: HookDeps["callAgent"];
  } = {},
): Harness {
  const calls: Harness["calls"] = [];
  let reads = 0;
  const config = "config" in overrides ? overrides.config : JSON.stringify(bundleConfig);
  const nsLinks = overrides.links ?? links;
  const agent = overrides.agent ?? agreeingAgent;
  const deps: HookDeps = {
    argv: overrides.argv ?? [],
    readStdin: async () => {
      reads += 1;
      return overrides.stdin ?? JSON.stringify(createdState);
    },
    readText: async (path) => {
      if (path === `/proc/${PID}/cgroup`) return `9:name=systemd:/abc\n0::/abc\n`;
      if (path !== `${BUNDLE}/config.json` || config === undefined) throw errno("ENOENT");
      return config;
    },
    statIno: (path) => {
      if (path !== "/sys/fs/cgroup/unified/abc") throw errno("ENOENT");
      return 5151;
    },
    readLink: (path) => {
      const match = /^\/proc\/(\d+)\/ns\/(\w+)$/.exec(path);
      const target = match && Number(match[1]) === PID ? nsLinks[match[2] ?? ""] : undefined;
      if (target === undefined) throw errno("ENOENT");
      return target;
    },
    callAgent: (options, body) => {
      calls.push({ options, body });
      return agent(options, body);
    },
    bootstrapRunning: () => false,
    spawnDetached: (argv) => {
      throw new Error(`no container here is the agent's own; spawnDetached(${argv.join(" ")}) was not expected`);
    },
    version: "9.9.9",
  };
  return { deps, calls, stdinReads: () => reads };
}

/** The outcome has at most one line on each stream. */
function expectOneLine(outcome: HookOutcome): void {
  for (const text of [outcome.stderr, outcome.stdout]) if (text !== undefined) expect(text).not.toMatch(/[\r\n]/);
}

describe("runHook() at createRuntime", () => {
  test("registers the container the runtime describes, as a hook registration", async () => {
    const h = harness({ argv: ["createRuntime", "--socket", "/tmp/agent.sock", "--timeout-ms", "300"] });
    const outcome = await runHook(h.deps);
    expect(outcome).toEqual({ status: 0 });
    expect(h.calls).toHaveLength(1);
    const expected: ContainerInfo = {
      id: "abc",
      pid: PID,
      bundle: BUNDLE,
      namespaces: { pid: 4026532101, mnt: 4026532102, net: 4026532103, uts: 4026532104, ipc: 4026532105, cgroup: 4026532106, user: 4026531837 },
      apparmorProfile: "armor-nginx",
      pod: { name: "web-0", namespace: "shop", uid: "uid-1" },
      containerName: "nginx",
      sandboxId: null,
      image: null,
      containerType: null,
      cgroup: { path: "/abc", id: 5151 },
    };
    expect(h.calls[0]?.body).toEqual({ op: "register", source: "hook", container: expected, deadline: expect.any(Number) });
    expect(h.calls[0]?.options.socket).toBe("/tmp/agent.sock");
    // The agent gets the hook's budget less the reserve for the spool (a quarter of 300 ms).
    expect(h.calls[0]?.options.timeoutMs).toBeLessThanOrEqual(225);
  });

  test.each(["open", "closed"])(
    "a gate's refusal fails the container under --fail-policy %s: exit 6, the gate's reason escaped on the line",
    async (policy) => {
      const reason = 'gate "policy" refused container abc: unsigned image\u001b[2J\nfake: line';
      const agent = async (): Promise<unknown> => {
        throw new ArmorError("E_AGENT_REJECTED", `agent refused: E_GATE_REFUSED: ${reason}`);
      };
      const h = harness({ argv: ["createRuntime", "--fail-policy", policy], agent });
      const outcome = await runHook(h.deps);
      expect(outcome.status).toBe(6);
      expectOneLine(outcome);
      expect(outcome.stderr).toContain('E_GATE_REFUSED: gate "policy" refused container abc: unsigned image\\u001b[2J\\nfake: line');
    },
  );

  test("tells createRuntime from status created when no stage is given", async () => {
    const h = harness();
    expect((await runHook(h.deps)).status).toBe(0);
    expect(h.calls[0]?.body.op).toBe("register");
  });

  test("lets the state's annotations win over the bundle's", async () => {
    const stdin = JSON.stringify({ ...createdState, annotations: { "io.kubernetes.container.name": "from-state" } });
    const h = harness({ stdin });
    await runHook(h.deps);
    const body = h.calls[0]?.body;
    expect(body?.op === "register" ? body.container.containerName : undefined).toBe("from-state");
  });

  test("sends a null profile when the bundle sets none", async () => {
    const h = harness({ config: JSON.stringify({ process: { args: ["sh"] } }) });
    await runHook(h.deps);
    const body = h.calls[0]?.body;
    expect(body?.op === "register" ? [body.container.apparmorProfile, body.container.pod] : undefined).toEqual([null, null]);
  });

  test("refuses an agent that confirms a different container (status 6)", async () => {
    const h = harness({
      agent: async (_o, body) =>
        body.op === "register"
          ? { container: { ...body.container, id: "other", source: "hook", registeredAt: "2025-01-01T00:00:00.000Z" }, outcome: "added" }
          : {},
    });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(6);
    expect(outcome.stderr).toBe('armor-hook: E_PROTOCOL: agent confirmed "other", not "abc" (container abc)');
  });

  test("refuses an answer that is not a registration (status 6)", async () => {
    const outcome = await runHook(harness({ agent: async () => ({ removed: true }) }).deps);
    expect(outcome.status).toBe(6);
    expect(outcome.stderr).toMatch(/^armor-hook: E_PROTOCOL: answer from agent: container: missing \(container abc\)$/);
  });
});

describe("runHook() at poststop", () => {
  test.each([
    ["no pid", { id: "abc", status: "stopped", bundle: BUNDLE }],
    ["pid 0", { id: "abc", status: "stopped", pid: 0, bundle: BUNDLE }],
    ["no bundle", { id: "abc", status: "stopped" }],
  ])("unregisters the container from a state with %s", async (_name, state) => {
    const h = harness({ stdin: JSON.stringify(state) });
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(h.calls.map((c) => c.body)).toEqual([{ op: "unregister", container: "abc" }]);
  });

  test("unregisters when the argument says poststop, whatever the status", async () => {
    const h = harness({ argv: ["poststop"] });
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(h.calls.map((c) => c.body)).toEqual([{ op: "unregister", container: "abc" }]);
  });

  test("does not need the bundle or /proc", async () => {
    const h = harness({ argv: ["poststop"], config: undefined, links: {} });
    expect((await runHook(h.deps)).status).toBe(0);
  });

  test("succeeds when the agent did not hold the container", async () => {
    const h = harness({ argv: ["poststop"], agent: async () => ({ removed: false }) });
    expect(await runHook(h.deps)).toEqual({ status: 0 });
  });
});

describe("runHook() failures", () => {
  test.each(["E_AGENT_UNREACHABLE", "E_AGENT_TIMEOUT"] as const)("fails open with a warning when the agent cannot be asked (%s)", async (code) => {
    const h = harness({
      agent: async () => {
        throw new ArmorError(code, "cannot reach agent at /run/armor/armor.sock: ECONNREFUSED");
      },
    });
    const outcome = await runHook(h.deps);
    expect(outcome).toEqual({
      status: 0,
      stderr: `armor-hook: warning: ${code}: cannot reach agent at /run/armor/armor.sock: ECONNREFUSED (container abc); continuing without the agent (fail-open); event not spooled: no spool`,
    });
  });

  test.each([
    ["E_REGISTRY_FULL", "agent refused: E_REGISTRY_FULL: the registry is full (10000 containers, …): hook registration of abc (900 bytes) not applied"],
    ["E_DEADLINE", "agent refused: E_DEADLINE: register of abc arrived 3 ms after its deadline; not applied"],
  ] as const)("treats an agent that could not take the container (%s) as unconfirmed: fail-open starts it, fail-closed refuses it", async (code, message) => {
    const agent = async () => {
      throw new ArmorError(code, message);
    };
    const open = await runHook(harness({ agent }).deps);
    expect(open.status).toBe(0);
    expect(open.stderr).toStartWith(`armor-hook: warning: ${code}: ${message} (container abc); continuing without the agent (fail-open)`);
    const closed = harness({ argv: ["createRuntime", "--fail-policy", "closed"], agent });
    closed.deps.dirExists = async () => true;
    const refused = await runHook(closed.deps);
    expect(refused.status).toBe(7);
    expect(refused.stderr).toStartWith(`armor-hook: ${code}: ${message} (container abc); refusing the container (fail-closed`);
  });

  test("fails with status 6 when the agent rejects the request", async () => {
    const h = harness({
      agent: async () => {
        throw new ArmorError("E_AGENT_REJECTED", "agent refused: E_INVALID_REQUEST: invalid request: container.id: bad");
      },
    });
    expect(await runHook(h.deps)).toEqual({
      status: 6,
      stderr: "armor-hook: E_AGENT_REJECTED: agent refused: E_INVALID_REQUEST: invalid request: container.id: bad (container abc)",
    });
  });

  test("fails with status 1 (E_INTERNAL) on an unexpected error", async () => {
    const h = harness({
      agent: async () => {
        throw new TypeError("boom");
      },
    });
    expect(await runHook(h.deps)).toEqual({ status: 1, stderr: "armor-hook: E_INTERNAL: boom (container abc)" });
  });

  test.each([
    ["empty", "", "armor-hook: E_STATE: OCI state on stdin is empty"],
    ["garbage", "not json", /^armor-hook: E_STATE: OCI state on stdin is not valid JSON \(.+\)$/],
    ["without id", '{"status":"created"}', "armor-hook: E_STATE: OCI state on stdin: id: missing"],
    [
      "without pid at createRuntime",
      `{"id":"abc","status":"created","bundle":"${BUNDLE}"}`,
      "armor-hook: E_STATE: OCI state on stdin: pid: missing at createRuntime (container abc)",
    ],
    [
      "with pid 0 at createRuntime",
      `{"id":"abc","status":"created","pid":0,"bundle":"${BUNDLE}"}`,
      "armor-hook: E_STATE: OCI state on stdin: pid: missing at createRuntime (container abc)",
    ],
    [
      "without bundle at createRuntime",
      '{"id":"abc","status":"created","pid":4242}',
      "armor-hook: E_STATE: OCI state on stdin: bundle: missing (container abc)",
    ],
  ])("fails with status 3 and one stderr line on a state %s", async (_name, stdin, message) => {
    const h = harness({ stdin });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(3);
    expect(outcome.stdout).toBeUndefined();
    if (typeof message === "string") expect(outcome.stderr).toBe(message);
    else expect(outcome.stderr).toMatch(message);
    expectOneLine(outcome);
    expect(h.calls).toHaveLength(0);
  });

  test("fails with status 3 on a state larger than 1 MiB", async () => {
    const outcome = await runHook(harness({ stdin: `{"id":"abc","pad":"${"x".repeat(1024 * 1024)}"}` }).deps);
    expect(outcome).toEqual({ status: 3, stderr: "armor-hook: E_STATE: OCI state on stdin is larger than 1048576 bytes" });
  });

  test("fails with status 4 when config.json is missing", async () => {
    const h = harness({ config: undefined });
    expect(await runHook(h.deps)).toEqual({ status: 4, stderr: `armor-hook: E_BUNDLE: ${BUNDLE}/config.json: not found (container abc)` });
    expect(h.calls).toHaveLength(0);
  });

  test("fails with status 4 when config.json is not JSON", async () => {
    const outcome = await runHook(harness({ config: "{" }).deps);
    expect(outcome.status).toBe(4);
    expect(outcome.stderr).toStartWith(`armor-hook: E_BUNDLE: ${BUNDLE}/config.json is not valid JSON`);
  });

  test("fails with status 5 when the container process is gone", async () => {
    const h = harness({ links: {} });
    expect(await runHook(h.deps)).toEqual({
      status: 5,
      stderr: `armor-hook: E_PROCESS_GONE: process ${PID} no longer exists (/proc/${PID}/ns/pid: ENOENT) (container abc)`,
    });
    expect(h.calls).toHaveLength(0);
  });

  test("fails with status 2 on an unknown stage argument", async () => {
    const h = harness({ argv: ["poststart"] });
    expect(await runHook(h.deps)).toEqual({
      status: 2,
      stderr: 'armor-hook: E_STAGE: unknown stage "poststart" (expected createRuntime or poststop) (container abc)',
    });
    expect(h.calls).toHaveLength(0);
  });

  test("fails with status 2 on a status that names no stage", async () => {
    const outcome = await runHook(harness({ stdin: JSON.stringify({ ...createdState, status: "running" }) }).deps);
    expect(outcome.status).toBe(2);
    expect(outcome.stderr).toContain("E_STAGE");
  });

  test("fails with status 2 on a bad flag, before reading stdin", async () => {
    const h = harness({ argv: ["--timeout-ms", "0"] });
    const outcome = await runHook(h.deps);
    expect(outcome).toEqual({ status: 2, stderr: 'armor-hook: E_USAGE: --timeout-ms must be a whole number from 1 to 60000, got "0"' });
    expect(h.stdinReads()).toBe(0);
  });

  test.each([
    ["a container id", { argv: [], stdin: JSON.stringify({ id: "evil\nid", status: "running" }) }],
    ["a stage argument", { argv: ["bad\nstage"] }],
    ["a bundle path", { stdin: JSON.stringify({ ...createdState, bundle: "/x\r\ny" }) }],
  ])("keeps the message on one line when %s holds a newline", async (_name, overrides) => {
    const outcome = await runHook(harness(overrides).deps);
    expect(outcome.status).not.toBe(0);
    expect(outcome.stderr).toBeDefined();
    expectOneLine(outcome);
  });

  test("escapes terminal sequences and bidi controls in its line", async () => {
    const outcome = await runHook(harness({ argv: [], stdin: JSON.stringify({ id: "evil\u202e\u001b[2Jid\u2067", status: "running" }) }).deps);
    expect(outcome.stderr).toContain("evil\\u202e\\u001b[2Jid\\u2067");
    expect(outcome.stderr).not.toMatch(/[\u001b\u202e\u2067]/);
  });

  test("keeps an agent's multi-line refusal on one line", async () => {
    const outcome = await runHook(
      harness({
        agent: async () => {
          throw new ArmorError("E_AGENT_REJECTED", "agent refused: E_X: first\nsecond");
        },
      }).deps,
    );
    expect(outcome.stderr).toBe("armor-hook: E_AGENT_REJECTED: agent refused: E_X: first\\nsecond (container abc)");
  });
});

describe("runHook() --help and --version", () => {
  test("prints the usage on stdout with status 0, without reading stdin", async () => {
    const h = harness({ argv: ["--help"] });
    expect(await runHook(h.deps)).toEqual({ status: 0, stdout: hookUsage() });
    expect(hookUsage()).toStartWith("usage: armor-hook [createRuntime|poststop]");
    expect(h.stdinReads()).toBe(0);
  });

  test("prints the version on stdout with status 0", async () => {
    expect(await runHook(harness({ argv: ["--version"] }).deps)).toEqual({ status: 0, stdout: "armor-hook 9.9.9" });
  });
});

/** A harness whose hook logs: every line it appends, every request it sends the agent, in order. */
function loggingHarness(overrides: Parameters<typeof harness>[0] = {}) {
  const h = harness(overrides);
  const lines: Array<{ settings: LogSettings; record: HookLogRecord; raw: string }> = [];
  const sent: RequestBody[] = [];
  const order: string[] = [];
  h.deps.writeLog = async (settings, raw) => {
    order.push("writeLog");
    lines.push({ settings, record: JSON.parse(raw) as HookLogRecord, raw });
  };
  const agent = h.deps.callAgent;
  h.deps.callAgent = (options, body) => {
    order.push("callAgent");
    sent.push(body);
    return agent(options, body);
  };
  h.deps.elapsedMs = () => 12.345;
  h.deps.now = () => new Date("2026-11-27T03:00:00.000Z");
  h.deps.nowMicros = () => 1_795_000_000_000_000;
  h.deps.pid = 777;
  h.deps.spawnDetached = () => {};
  return { ...h, lines, sent, order };
}

const podConfig = JSON.stringify(bundleConfig);

describe("runHook()'s log", () => {
  test("records a registration with its duration, pod and container name, in a log of its own (--log-file)", async () => {
    const h = loggingHarness({ argv: ["createRuntime", "--socket", "/run/sec/agent.sock", "--log-file", "/var/log/armor-hook.log"], config: podConfig });
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(h.lines).toHaveLength(1);
    expect(h.lines[0]?.settings).toEqual({ path: "/var/log/armor-hook.log", maxBytes: DEFAULT_LOG_MAX_BYTES, keep: DEFAULT_LOG_KEEP });
    expect(h.lines[0]?.record).toEqual({
      time: "2026-11-27T03:00:00.000Z",
      level: "info",
      msg: "createRuntime registered",
      result: "registered",
      status: 0,
      ms: 12.35,
      pid: 777,
      stage: "createRuntime",
      container: "abc",
      pod: "shop/web-0",
      containerName: "nginx",
    });
  });

  test("records, at level warn, the agent's warning on a registration no gate decided (--gate-policy open)", async () => {
    const warning = 'gate "slow" did not decide on container abc within 500 ms; started under --gate-policy open';
    const agent = async (options: ClientOptions, body: RequestBody): Promise<unknown> => ({ ...((await agreeingAgent(options, body)) as object), warning });
    const h = loggingHarness({ argv: ["createRuntime", "--socket", "/run/sec/agent.sock", "--log-file", "/var/log/armor-hook.log"], config: podConfig, agent });
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(h.lines[0]?.record).toMatchObject({ level: "warn", result: "registered", status: 0, warning });
  });

  test.each([
    ["createRuntime", "registered"],
    ["poststop", "unregistered"],
  ])("a confirmed %s sends its line's facts in its request, and writes none: the agent writes the line", async (stage) => {
    const h = loggingHarness({ argv: [stage, "--socket", "/run/sec/agent.sock", "--log-max-bytes", "8192", "--log-keep", "3"] });
    if (stage === "poststop") h.deps.readStdin = async () => JSON.stringify({ id: "abc", status: "stopped" });
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(h.lines).toEqual([]);
    expect(h.sent.at(-1)).toMatchObject({ log: { pid: 777, ms: 12.35, maxBytes: 8192, keep: 3 } });
  });

  test("an answer that confirms another container: the hook logs its failure itself", async () => {
    const h = loggingHarness({ agent: async () => ({ container: { id: "other" } }) });
    expect((await runHook(h.deps)).status).toBe(6);
    expect(h.lines.map((l) => l.record.result)).toEqual(["failed"]);
  });

  test("appends the line itself, and sends none, when its log is not beside the socket", async () => {
    const h = loggingHarness({ argv: ["createRuntime", "--log-file", "/var/log/armor/hook.log"] });
    await runHook(h.deps);
    expect(h.sent.map((body) => "log" in body)).toEqual([false]);
    expect(h.lines[0]?.settings.path).toBe("/var/log/armor/hook.log");
  });

  test("a failed call appends its line itself, at once", async () => {
    const h = loggingHarness({
      agent: async () => {
        throw new ArmorError("E_AGENT_UNREACHABLE", "cannot reach agent at /run/armor/armor.sock: ECONNREFUSED");
      },
    });
    await runHook(h.deps);
    expect(h.lines.map((l) => l.record.result)).toEqual(["unconfirmed"]);
  });

  test("records an unregistration at poststop", async () => {
    const h = loggingHarness({ argv: ["poststop", "--log-file", "/var/log/armor-hook.log"], stdin: JSON.stringify({ id: "abc", status: "stopped" }) });
    await runHook(h.deps);
    expect(h.lines[0]?.record).toMatchObject({ level: "info", result: "unregistered", status: 0, stage: "poststop", container: "abc" });
  });

  test("records the agent's own container as a started bootstrap", async () => {
    // The bundle's pod is in "shop": the agent's namespace here.
    const h = loggingHarness({ argv: ["--agent-namespace=shop"], config: JSON.stringify({ ...bundleConfig, process: { args: ["/usr/bin/armor-agent"] } }) });
    await runHook(h.deps);
    expect(h.lines[0]?.record).toMatchObject({ result: "bootstrap", status: 0, container: "abc" });
  });

  test("records a fail-open start as a warning, with the phase it failed in and where the event went", async () => {
    const h = loggingHarness({
      agent: async () => {
        throw new ArmorError("E_AGENT_UNREACHABLE", "cannot reach agent at /run/armor/armor.sock: ECONNREFUSED");
      },
    });
    h.deps.dirExists = async () => true;
    h.deps.spool = async () => ({ written: "/run/armor/spool/0001.json" });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(0);
    expect(h.lines[0]?.record).toMatchObject({
      level: "warn",
      result: "unconfirmed",
      status: 0,
      code: "E_AGENT_UNREACHABLE",
      phase: "asking the agent",
      spool: "/run/armor/spool/0001.json",
      message: outcome.stderr,
    });
  });

  test("records a container refused by fail-closed as an error, with the status the runtime saw", async () => {
    const h = loggingHarness({
      argv: ["createRuntime", "--fail-policy", "closed"],
      agent: async () => {
        throw new ArmorError("E_AGENT_TIMEOUT", "agent did not answer within 1500 ms");
      },
    });
    h.deps.dirExists = async () => true;
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(7);
    expect(h.lines[0]?.record).toMatchObject({
      level: "error",
      result: "refused",
      status: 7,
      code: "E_AGENT_TIMEOUT",
      container: "abc",
      message: outcome.stderr,
    });
    expect(h.lines[0]?.record.spool).toBeUndefined();
  });

  test("records a bad state as a failure, before any container id is known", async () => {
    const h = loggingHarness({ stdin: "not json" });
    const outcome = await runHook(h.deps);
    expect(h.lines[0]?.record).toMatchObject({
      level: "error",
      result: "failed",
      status: 3,
      code: "E_STATE",
      phase: "reading the OCI state",
      message: outcome.stderr,
    });
    expect(h.lines[0]?.record.container).toBeUndefined();
  });

  test("records a hook entry with a bad flag in the log file that entry names", async () => {
    const h = loggingHarness({ argv: ["createRuntime", "--log-file", "/var/log/armor/hook.log", "--timeout-ms", "zero"] });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(2);
    expect(h.lines[0]?.settings.path).toBe("/var/log/armor/hook.log");
    expect(h.lines[0]?.record).toMatchObject({ result: "failed", status: 2, code: "E_USAGE", phase: "reading the command line" });
  });

  test("keeps the deadline: a silent agent is logged as a timeout within --timeout-ms", async () => {
    // 1,000 ms, not less: the bound checked is --timeout-ms itself, and on a loaded 2-core
    // machine a timer can fire tens of ms late (a 200 ms budget measured 228–263 ms there).
    const h = loggingHarness({ argv: ["createRuntime", "--timeout-ms", "1000"], agent: () => new Promise(() => {}) });
    const started = performance.now();
    const outcome = await runHook(h.deps);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(outcome.status).toBe(0);
    expect(h.lines[0]?.record).toMatchObject({ result: "unconfirmed", code: "E_AGENT_TIMEOUT" });
  });

  test("writes nothing with --no-log-file, nor for --help and --version", async () => {
    for (const argv of [["--no-log-file"], ["--help"], ["--version"]]) {
      const h = loggingHarness({ argv });
      await runHook(h.deps);
      expect(h.lines).toEqual([]);
    }
  });

  test("a log that cannot be written changes nothing the runtime is told", async () => {
    const h = loggingHarness();
    h.deps.writeLog = async () => {
      throw new Error("EROFS: read-only file system");
    };
    expect(await runHook(h.deps)).toEqual({ status: 0 });
  });

  test("keeps a record under the line limit however long the agent's message", async () => {
    const h = loggingHarness({
      agent: async () => {
        throw new ArmorError("E_AGENT_REJECTED", `agent refused: ${"é".repeat(5000)}`);
      },
    });
    await runHook(h.deps);
    const raw = h.lines[0]?.raw ?? "";
    expect(new TextEncoder().encode(raw).length).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    expect(h.lines[0]?.record).toMatchObject({ result: "failed", status: 6, container: "abc" });
  });
});
