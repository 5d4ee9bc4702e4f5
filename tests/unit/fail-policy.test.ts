import { describe, expect, test } from "bun:test";
import type { ClientOptions } from "../../lib/client.ts";
import { ArmorError } from "../../lib/errors.ts";
import { DEFAULT_AGENT_NAMESPACE, parseHookArgs } from "../../lib/hook/args.ts";
import { failureVerdict, type FailureFacts } from "../../lib/fail-policy.ts";
import { runHook, type HookDeps } from "../../lib/hook/run.ts";
import type { SpoolResult } from "../../lib/hook/spool.ts";
import type { SpoolRecord } from "../../lib/spool-format.ts";
import type { RequestBody } from "../../lib/wire/messages.ts";
import { armorErrorOf } from "./_fixtures.ts";

const BUNDLE = "/run/containers/abc/userdata";
const PID = 4242;
const never = <T>(): Promise<T> => new Promise<T>(() => {});

describe("failureVerdict()", () => {
  const base: FailureFacts = {
    policy: "closed",
    stage: "createRuntime",
    namespace: "shop",
    allowNamespaces: ["kube-system", "armor-system"],
    agentEverStarted: true,
  };
  test.each<[string, Partial<FailureFacts>, "start" | "refuse"]>([
    ["open policy starts anything", { policy: "open" }, "start"],
    ["closed refuses a namespace off the allow-list", {}, "refuse"],
    ["closed refuses a container without a namespace", { namespace: null }, "refuse"],
    ["closed starts kube-system", { namespace: "kube-system" }, "start"],
    ["closed starts the agent's namespace", { namespace: "armor-system" }, "start"],
    ["closed with an empty allow-list refuses kube-system", { namespace: "kube-system", allowNamespaces: [] }, "refuse"],
    ["closed starts anything where the agent never started", { agentEverStarted: false }, "start"],
    ["closed never refuses a poststop", { stage: "poststop" }, "start"],
    ["closed refuses when the stage is not known yet", { stage: undefined }, "refuse"],
  ])("%s", (_name, facts, action) => {
    expect(failureVerdict({ ...base, ...facts }).action).toBe(action);
  });
});

describe("parseHookArgs() failure-policy flags", () => {
  test("defaults: open, kube-system and the agent namespace allowed, spool beside the socket", () => {
    expect(parseHookArgs(["--socket", "/x/a.sock"])).toMatchObject({
      failPolicy: "open",
      failAllowNamespaces: ["kube-system", DEFAULT_AGENT_NAMESPACE],
      agentNamespace: DEFAULT_AGENT_NAMESPACE,
      spoolDir: "/x/spool",
    });
  });

  test("takes each flag", () => {
    expect(parseHookArgs(["--fail-policy=closed", "--agent-namespace", "sec", "--spool-dir", "/s"])).toMatchObject({
      failPolicy: "closed",
      failAllowNamespaces: ["kube-system", "sec"],
      spoolDir: "/s",
    });
    expect(parseHookArgs(["--fail-allow-namespaces", "a,b,,c"]).failAllowNamespaces).toEqual(["a", "b", "c"]);
    expect(parseHookArgs(["--fail-allow-namespaces="]).failAllowNamespaces).toEqual([]);
  });

  test.each(["shut", "", "OPEN"])("refuses --fail-policy %p with E_USAGE", (value) => {
    expect(armorErrorOf(() => parseHookArgs([`--fail-policy=${value}`])).code).toBe("E_USAGE");
  });
});

interface Harness {
  deps: HookDeps;
  calls: Array<{ options: ClientOptions; body: RequestBody }>;
  spooled: SpoolRecord[];
  spawned: string[][];
}

function harness(options: {
  argv: string[];
  namespace?: string | null;
  args0?: string;
  stdin?: () => Promise<string>;
  agent?: (options: ClientOptions, body: RequestBody) => Promise<unknown>;
  spoolDirExists?: boolean;
  spool?: (dir: string, record: SpoolRecord) => Promise<SpoolResult>;
}): Harness {
  const calls: Harness["calls"] = [];
  const spooled: SpoolRecord[] = [];
  const spawned: string[][] = [];
  const namespace = options.namespace === undefined ? "shop" : options.namespace;
  const annotations = namespace === null ? {} : { "io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": namespace };
  const deps: HookDeps = {
    argv: options.argv,
    readStdin: options.stdin ?? (async () => JSON.stringify({ id: "abc", status: "created", pid: PID, bundle: BUNDLE })),
    readText: async () => JSON.stringify({ process: { args: [options.args0 ?? "nginx"] }, annotations }),
    readLink: (path) => `${path.slice(path.lastIndexOf("/") + 1)}:[4026532${path.length}]`,
    statIno: () => 4242,
    callAgent: (o, body) => {
      calls.push({ options: o, body });
      return (
        options.agent ??
        (async () => {
          throw new ArmorError("E_AGENT_UNREACHABLE", "cannot reach agent at /run/armor/armor.sock: ECONNREFUSED");
        })
      )(o, body);
    },
    bootstrapRunning: () => false,
    spawnDetached: (argv) => void spawned.push(argv),
    version: "0",
    spool:
      options.spool ??
      (async (dir, record) => {
        spooled.push(record);
        return { written: `${dir}/0001.json` };
      }),
    dirExists: async () => options.spoolDirExists ?? true,
    nowMicros: () => 1_700_000_000_000_000,
  };
  return { deps, calls, spooled, spawned };
}

describe("runHook() when the agent cannot confirm a registration", () => {
  test("fail-open starts the container and spools its registration", async () => {
    const h = harness({ argv: ["createRuntime"] });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(0);
    expect(outcome.stderr).toBe(
      "armor-hook: warning: E_AGENT_UNREACHABLE: cannot reach agent at /run/armor/armor.sock: ECONNREFUSED (container abc); continuing without the agent (fail-open); event spooled to /run/armor/spool/0001.json",
    );
    expect(h.spooled).toHaveLength(1);
    expect(h.spooled[0]).toMatchObject({ v: 1, at: 1_700_000_000_000_000, op: "register", container: { id: "abc", pid: PID, pod: { namespace: "shop" } } });
  });

  test("fail-closed refuses a container outside the allow-list with status 7, logging why, and spools nothing", async () => {
    const h = harness({ argv: ["createRuntime", "--fail-policy", "closed"] });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(7);
    expect(outcome.stderr).toBe(
      'armor-hook: E_AGENT_UNREACHABLE: cannot reach agent at /run/armor/armor.sock: ECONNREFUSED (container abc); refusing the container (fail-closed: namespace "shop" is not on the allow-list)',
    );
    expect(h.spooled).toEqual([]);
  });

  test("fail-closed refuses on a timeout too", async () => {
    const h = harness({
      argv: ["createRuntime", "--fail-policy", "closed"],
      agent: async () => {
        throw new ArmorError("E_AGENT_TIMEOUT", "agent did not answer");
      },
    });
    expect((await runHook(h.deps)).status).toBe(7);
  });

  test.each(["kube-system", DEFAULT_AGENT_NAMESPACE])("fail-closed starts a container of namespace %s, and spools it", async (namespace) => {
    const h = harness({ argv: ["createRuntime", "--fail-policy", "closed"], namespace });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(0);
    expect(outcome.stderr).toContain(`namespace "${namespace}" is on the allow-list (fail-closed)`);
    expect(h.spooled).toHaveLength(1);
  });

  test("fail-closed starts a container when the agent has never started on this node (no spool directory)", async () => {
    const h = harness({ argv: ["createRuntime", "--fail-policy", "closed"], spoolDirExists: false });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(0);
    expect(outcome.stderr).toContain("the agent has never started on this node");
    expect(h.spooled).toEqual([]);
  });

  test("fail-closed always starts the agent's own container, without asking the agent", async () => {
    const h = harness({ argv: ["createRuntime", "--fail-policy", "closed"], args0: "/usr/local/bin/armor-agent", namespace: DEFAULT_AGENT_NAMESPACE });
    expect(await runHook(h.deps)).toEqual({ status: 0 });
    expect(h.calls).toEqual([]);
    expect(h.spawned).toHaveLength(1);
  });

  test("fail-closed never refuses a poststop, and spools the removal", async () => {
    const h = harness({ argv: ["poststop", "--fail-policy", "closed"] });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(0);
    expect(h.spooled).toEqual([{ v: 1, at: 1_700_000_000_000_000, op: "unregister", container: "abc" }]);
  });

  test("an agent that refuses the request is not a reason to start or spool: status 6 either way", async () => {
    for (const policy of ["open", "closed"]) {
      const h = harness({
        argv: ["createRuntime", `--fail-policy=${policy}`],
        agent: async () => {
          throw new ArmorError("E_AGENT_REJECTED", "agent refused");
        },
      });
      expect((await runHook(h.deps)).status).toBe(6);
      expect(h.spooled).toEqual([]);
    }
  });

  test("a spool that is full is reported on the warning line", async () => {
    const h = harness({ argv: ["createRuntime"], spool: async () => ({ dropped: "spool /s is full" }) });
    expect((await runHook(h.deps)).stderr).toEndWith("; event not spooled: spool /s is full");
  });
});

describe("runHook() stays within --timeout-ms", () => {
  test("gives the agent the budget less a reserve for the spool, as a signal and as the request's deadline", async () => {
    const before = Date.now();
    const h = harness({ argv: ["createRuntime", "--timeout-ms", "2000"] });
    await runHook(h.deps);
    const options = h.calls[0]?.options;
    expect(options?.timeoutMs).toBeLessThanOrEqual(1500);
    expect(options?.timeoutMs).toBeGreaterThan(0);
    expect(options?.signal?.aborted).toBe(false);
    const body = h.calls[0]?.body;
    const deadline = body?.op === "register" ? body.deadline : undefined;
    expect(deadline).toBeGreaterThan(before);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 1500);
  });

  test("the agent's signal aborts with the hook's deadline", async () => {
    let signal: AbortSignal | undefined;
    const h = harness({
      argv: ["createRuntime", "--timeout-ms", "40"],
      agent: (options) => {
        signal = options.signal;
        return never();
      },
    });
    expect((await runHook(h.deps)).stderr).toContain("E_AGENT_TIMEOUT: no answer from the agent within 40 ms (asking the agent)");
    expect(signal?.aborted).toBe(true);
  });

  test.each<[string, "open" | "closed", number]>([
    ["open", "open", 0],
    ["closed", "closed", 7],
  ])("stdin that never ends: %s policy decides", async (_name, policy, status) => {
    const h = harness({ argv: ["createRuntime", "--timeout-ms", "30", `--fail-policy=${policy}`], stdin: never });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(status);
    // The agent was never asked: the hook's own deadline has its own code.
    expect(outcome.stderr).toContain("E_HOOK_TIMEOUT: armor-hook did not finish within 30 ms (reading the OCI state)");
  });

  test("stdin's read is handed the deadline, and it aborts", async () => {
    let signal: AbortSignal | undefined;
    const h = harness({ argv: ["createRuntime", "--timeout-ms", "30"], stdin: never });
    h.deps.readStdin = (s) => {
      signal = s;
      return never();
    };
    await runHook(h.deps);
    expect(signal?.aborted).toBe(true);
  });

  test("a poststop named by its argument is never refused, even when stdin never ends", async () => {
    const h = harness({ argv: ["poststop", "--timeout-ms", "30", "--fail-policy=closed"], stdin: never });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(0);
    expect(outcome.stderr).toContain("E_HOOK_TIMEOUT");
    expect(outcome.stderr).toContain("the container has stopped; nothing to refuse (fail-closed)");
  });

  test("an agent call that never settles (ignoring its own timeout) ends at the deadline", async () => {
    const h = harness({ argv: ["createRuntime", "--timeout-ms", "30"], agent: never });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(0);
    expect(outcome.stderr).toContain("(asking the agent)");
    expect(outcome.stderr).toEndWith("; event not spooled: no time left");
  });

  test("a spool write that hangs ends at the deadline", async () => {
    const h = harness({ argv: ["createRuntime", "--timeout-ms", "30"], spool: never });
    const outcome = await runHook(h.deps);
    expect(outcome.status).toBe(0);
    expect(outcome.stderr).toContain("(writing the spool)");
    expect(outcome.stderr).toEndWith("; event not spooled: the deadline cut the spool write short (the agent replays it if it was whole)");
  });
});
