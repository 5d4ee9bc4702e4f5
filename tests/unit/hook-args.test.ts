import { describe, expect, test } from "bun:test";
import { DEFAULT_STATE_ROOTS } from "../../lib/bootstrap/state-roots.ts";
import {
  bootstrapArgv,
  DEFAULT_AGENT_NAME,
  DEFAULT_AGENT_NAMESPACE,
  DEFAULT_BOOTSTRAP_DEADLINE_MS,
  DEFAULT_LOG_KEEP,
  DEFAULT_LOG_MAX_BYTES,
  DEFAULT_SOCKET,
  DEFAULT_TIMEOUT_MS,
  HOOK_FLAGS,
  hookUsage,
  logSettings,
  parseHookArgs,
  readHookArgs,
  type HookArgs,
} from "../../lib/hook/args.ts";
import { DEFAULT_SETTLE_MS } from "../../lib/bootstrap/state-roots.ts";
import { armorErrorOf } from "./_fixtures.ts";

type Field = Exclude<keyof HookArgs, "stage">;

// The specification of every flag: its default, one value written both ways, what it parses to.
const FLAGS: Array<[Field, unknown, string | null, unknown]> = [
  ["socket", DEFAULT_SOCKET, "/x/a.sock", "/x/a.sock"],
  ["timeoutMs", DEFAULT_TIMEOUT_MS, "250", 250],
  ["failPolicy", "open", "closed", "closed"],
  ["failAllowNamespaces", ["kube-system", DEFAULT_AGENT_NAMESPACE], "a,b,,c", ["a", "b", "c"]],
  ["agentNamespace", DEFAULT_AGENT_NAMESPACE, "sec", "sec"],
  ["agentName", DEFAULT_AGENT_NAME, "monitor", "monitor"],
  ["agentOutsideKubernetes", false, null, true],
  ["agentContainer", "", '{"id":"c1"}', '{"id":"c1"}'],
  ["spoolDir", "/run/armor/spool", "/s", "/s"],
  [
    "stateRoots",
    [...DEFAULT_STATE_ROOTS],
    "crun:/run/crun,runc:/r",
    [
      { format: "crun", path: "/run/crun" },
      { format: "runc", path: "/r" },
    ],
  ],
  ["bootstrapDeadlineMs", DEFAULT_BOOTSTRAP_DEADLINE_MS, "3600000", 3_600_000],
  ["bootstrapSettleMs", DEFAULT_SETTLE_MS, "0", 0],
  ["bootstrapLog", "/run/armor/bootstrap.log", "/l/b.log", "/l/b.log"],
  ["logFile", "/run/armor/hook.log", "/l/h.log", "/l/h.log"],
  ["noLogFile", false, null, true],
  ["logMaxBytes", DEFAULT_LOG_MAX_BYTES, "8192", 8192],
  ["logKeep", DEFAULT_LOG_KEEP, "5", 5],
  ["help", false, null, true],
  ["version", false, null, true],
];

describe("parseHookArgs()", () => {
  test("the specification covers every flag of the table", () => {
    expect(FLAGS.map(([field]): string => field).sort()).toEqual(Object.keys(HOOK_FLAGS).sort());
  });

  test.each(FLAGS)("%s has its default", (field, fallback) => {
    expect(parseHookArgs([])[field] as unknown).toEqual(fallback);
  });

  test.each(FLAGS.filter(([, , raw]) => raw !== null))("%s: --flag VALUE and --flag=VALUE read the same", (field, _fallback, raw, parsed) => {
    const name = HOOK_FLAGS[field].name;
    expect(parseHookArgs([name, raw as string])[field] as unknown).toEqual(parsed);
    expect(parseHookArgs([`${name}=${raw}`])[field] as unknown).toEqual(parsed);
  });

  test.each(FLAGS.filter(([, , raw]) => raw === null))("%s is a switch", (field) => {
    const name = HOOK_FLAGS[field].name;
    expect(parseHookArgs([name])[field]).toBe(true);
    expect(armorErrorOf(() => parseHookArgs([`${name}=yes`])).message).toBe(`${name} takes no value`);
  });

  test.each(FLAGS.filter(([, , raw]) => raw !== null))("%s needs a value: a following flag is never taken for it", (field) => {
    const name = HOOK_FLAGS[field].name;
    const { error } = readHookArgs([name, "--no-log-file"]);
    expect(error?.code).toBe("E_USAGE");
    expect(error?.message).toStartWith(`${name} needs a value`);
    expect(armorErrorOf(() => parseHookArgs([name])).message).toStartWith(`${name} needs a value`);
  });

  test("a value that starts with '-' is taken only inline", () => {
    expect(armorErrorOf(() => parseHookArgs(["--agent-name", "-x"])).message).toBe("--agent-name needs a value");
    expect(armorErrorOf(() => parseHookArgs(["--agent-name=-x"])).message).toStartWith("--agent-name must be a Kubernetes name");
  });

  test("reads a stage before or after the flags", () => {
    expect(parseHookArgs(["createRuntime", "--socket", "/tmp/a.sock"]).stage).toBe("createRuntime");
    expect(parseHookArgs(["--socket=/x=y.sock", "poststop"])).toMatchObject({ socket: "/x=y.sock", stage: "poststop" });
    expect(parseHookArgs([]).stage).toBeUndefined();
  });

  test("passes an unknown stage through for resolveStage to judge", () => {
    expect(parseHookArgs(["poststart"]).stage).toBe("poststart");
  });

  test("-h is --help", () => {
    expect(parseHookArgs(["-h"]).help).toBe(true);
  });

  test("repeated --state-root flags add up, in order", () => {
    expect(parseHookArgs(["--state-root", "crun:/run/crun", "--state-root=runc:/run/docker/runtime-runc/moby"]).stateRoots).toEqual([
      { format: "crun", path: "/run/crun" },
      { format: "runc", path: "/run/docker/runtime-runc/moby" },
    ]);
  });

  test("the files beside the socket follow --socket", () => {
    expect(parseHookArgs(["--socket", "/s/a.sock"])).toMatchObject({
      spoolDir: "/s/spool",
      logFile: "/s/hook.log",
      bootstrapLog: "/s/bootstrap.log",
    });
  });

  test("the allow-list follows --agent-namespace, and --fail-allow-namespaces= allows none", () => {
    expect(parseHookArgs(["--agent-namespace", "sec"]).failAllowNamespaces).toEqual(["kube-system", "sec"]);
    expect(parseHookArgs(["--fail-allow-namespaces="]).failAllowNamespaces).toEqual([]);
    expect(parseHookArgs(["--fail-allow-namespaces", ""]).failAllowNamespaces).toEqual([]);
  });

  test.each([
    // "allow none, fail closed" must not become the allow-list ["--fail-policy=closed"] and fail-open.
    [["--fail-allow-namespaces", "--fail-policy=closed"], "--fail-allow-namespaces needs a value (--fail-allow-namespaces= for none)"],
    // The socket is missing; --log-file is not the socket, and /x.log is not the stage.
    [["--socket", "--log-file", "/x.log"], "--socket needs a value"],
    [["--socket="], "--socket needs a value"],
    [["--socket", "armor.sock"], '--socket must be an absolute path, got "armor.sock"'],
    [["--log-file=./hook.log"], '--log-file must be an absolute path, got "./hook.log"'],
    [["--timeout-ms", "0"], '--timeout-ms must be a whole number from 1 to 60000, got "0"'],
    [["--timeout-ms", "60001"], '--timeout-ms must be a whole number from 1 to 60000, got "60001"'],
    [["--timeout-ms", "1.5"], '--timeout-ms must be a whole number from 1 to 60000, got "1.5"'],
    [["--timeout-ms=-5"], '--timeout-ms must be a whole number from 1 to 60000, got "-5"'],
    [["--timeout-ms", "1e3"], '--timeout-ms must be a whole number from 1 to 60000, got "1e3"'],
    [["--timeout-ms=ten"], '--timeout-ms must be a whole number from 1 to 60000, got "ten"'],
    [["--fail-policy=shut"], '--fail-policy must be open or closed, got "shut"'],
    [
      ["--fail-allow-namespaces", "Shop"],
      "--fail-allow-namespaces must list Kubernetes namespaces (lower-case letters, digits and '-', at most 63), got \"Shop\"",
    ],
    [["--state-root", "runc"], '--state-root must be runc:/absolute/path or crun:/absolute/path, got "runc"'],
    [["--state-root", "youki:/run/youki"], '--state-root must be runc:/absolute/path or crun:/absolute/path, got "youki:/run/youki"'],
    [["--state-root=runc:relative"], '--state-root must be runc:/absolute/path or crun:/absolute/path, got "runc:relative"'],
    [["--bootstrap-deadline-ms", "0"], '--bootstrap-deadline-ms must be a whole number from 1 to 3600000, got "0"'],
    [["--log-keep", "21"], '--log-keep must be a whole number from 1 to 20, got "21"'],
    [["--log-max-bytes", "4095"], '--log-max-bytes must be a whole number from 4096 to 1073741824, got "4095"'],
    [["--log-file", "/l", "--no-log-file"], "--log-file and --no-log-file exclude each other"],
    [["--verbose"], "unknown flag --verbose"],
    [["--verbose=1"], "unknown flag --verbose"],
    [["-x"], "unknown flag -x"],
    [["createRuntime", "poststop"], 'unexpected argument "poststop" after stage "createRuntime"'],
  ])("refuses %p with E_USAGE: %s", (argv, message) => {
    const err = armorErrorOf(() => parseHookArgs(argv));
    expect(err.code).toBe("E_USAGE");
    expect(err.message).toBe(message);
  });
});

describe("readHookArgs()", () => {
  test.each([
    [["--log-file", "/l/h.log", "--bogus"], "/l/h.log"],
    [["--log-file=/l/h.log", "--timeout-ms", "x"], "/l/h.log"],
    [["--socket", "/s/a.sock", "--bogus"], "/s/hook.log"],
    [["--socket", "--log-file", "/x.log"], "/x.log"],
    [["--bogus"], "/run/armor/hook.log"],
  ])("keeps what was right of a bad argv %p: the log goes to %s", (argv, path) => {
    const { args, error } = readHookArgs(argv);
    expect(error?.code).toBe("E_USAGE");
    expect(logSettings(args)?.path).toBe(path);
  });

  test("respects --no-log-file in a bad argv", () => {
    expect(logSettings(readHookArgs(["--no-log-file", "--bogus"]).args)).toBeNull();
  });
});

describe("hookUsage()", () => {
  test.each(Object.values(HOOK_FLAGS).map((flag) => [flag.name]))("documents %s", (name) => {
    expect(hookUsage()).toContain(`  ${name}`);
  });
});

describe("bootstrapArgv()", () => {
  const forked = (Object.keys(HOOK_FLAGS) as Field[]).filter((field) => HOOK_FLAGS[field].fork);

  test("gives the fork the socket, deadlines, state roots and log bounds, and nothing of the policy", () => {
    expect(forked.sort()).toEqual([
      "agentContainer",
      "bootstrapDeadlineMs",
      "bootstrapLog",
      "bootstrapSettleMs",
      "logKeep",
      "logMaxBytes",
      "socket",
      "stateRoots",
      "timeoutMs",
    ]);
  });

  test.each(FLAGS.filter(([field, , raw]) => raw !== null && HOOK_FLAGS[field].fork))("round-trips %s through parseHookArgs()", (field, _f, raw, parsed) => {
    const argv = bootstrapArgv(parseHookArgs([HOOK_FLAGS[field].name, raw as string]));
    expect(argv[0]).toBe("bootstrap");
    expect(parseHookArgs(argv.slice(1))[field] as unknown).toEqual(parsed);
  });

  test("writes every value inline, so none can be taken for a flag", () => {
    const argv = bootstrapArgv(parseHookArgs(["--state-root", "runc:/a,crun:/b"]));
    expect(argv.slice(1).every((arg) => /^--[a-z-]+=/.test(arg))).toBe(true);
    expect(argv.filter((arg) => arg.startsWith("--state-root="))).toEqual(["--state-root=runc:/a", "--state-root=crun:/b"]);
  });
});
