/**
 * armor-agent: the node daemon (`serve`), its client commands (`list`, `get`,
 * `lookup`, `watch`) and `hook-log`, which reads the hook's log files. Errors
 * become one line and an exit status in `guarded`.
 */
import { defineCommand } from "citty";
import { closeSync, existsSync, readlinkSync, readSync, statSync, type Stats } from "node:fs";
import { getCommand, listCommand, lookupCommand, statusCommand, watchCommand } from "./lib/agent/commands.ts";
import { agentExitStatus } from "./lib/agent/exit-status.ts";
import { HOOK_RESULTS, hookLogCommand, MAX_TAIL, parseHookLogQuery, type OpenedLog } from "./lib/agent/hook-log.ts";
import { checkHooksFiles } from "./lib/agent/hooks-check.ts";
import { CONTAINERD_SPEC_ACTIONS, containerdSpecCommand, type ContainerdSpecAction } from "./lib/agent/containerd-spec.ts";
import { bashCompletion, runCli, wantsColour } from "./lib/agent/cli.ts";
import type { BootstrapMode } from "./lib/agent/bootstrap.ts";
import { DEFAULT_BOOTSTRAP_WAIT_MS, startAgent } from "./lib/agent/serve.ts";
import { DEFAULT_HOOK_BINARY } from "./lib/agent/warm-pages.ts";
import { DEFAULT_SETTLE_MS } from "./lib/agent/settle.ts";
import { readHostText } from "./lib/bootstrap/enumerate.ts";
import { DEFAULT_STATE_ROOTS, parseStateRoots } from "./lib/bootstrap/state-roots.ts";
import { DEFAULT_SOCKET } from "./lib/agent/socket-path.ts";
import { ArmorError, errnoOf, toArmorError } from "./lib/errors.ts";
import { escapeText } from "./lib/escape.ts";
import { openRegular, readFailure } from "./lib/safe-read.ts";
import { jsonLogger, type Level } from "./lib/log.ts";
import { layout } from "./lib/layout.ts";
import { VERSION } from "./lib/version.ts";
import { HOOK_FLAGS, parseHookArgs } from "./lib/hook/args.ts";
import { socketAgentPort } from "./lib/nri/agent-port.ts";
import { nriArgsTable, parseNriArgs } from "./lib/nri/args.ts";
import { nriComponent } from "./lib/nri/connection.ts";
import { describeNri } from "./lib/nri/describe.ts";
import { hookEntries } from "./lib/nri/hook-entry.ts";
import { NriPlugin } from "./lib/nri/plugin.ts";
import { takeAgentLock } from "./lib/agent/lock.ts";
import { parseWith } from "./lib/validate.ts";
import { GateNameSchema, MAX_GATE_TIMEOUT_MS } from "./lib/wire/messages.ts";
import { GATE_POLICIES, type GatePolicy } from "./lib/agent/watch.ts";
import { DEFAULT_SWEEP_INTERVAL_MS } from "./lib/agent/sweep.ts";

const socketArg = {
  type: "string",
  description: "agent socket (default: $ARMOR_SOCKET when set)",
  default: process.env.ARMOR_SOCKET || DEFAULT_SOCKET,
  valueHint: "PATH",
} as const;
const jsonArg = { type: "boolean", description: "print JSON", default: false } as const;
const timeoutArg = { type: "string", description: "give up after N ms", default: "5000", valueHint: "N" } as const;
const print = (line: string): void => console.log(line);

/** Runs a command body; an error becomes "armor-agent: CODE: message" and its exit status. */
async function guarded(body: () => Promise<unknown>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const error = toArmorError(err);
    console.error(`armor-agent: ${error.code}: ${escapeText(error.message)}`);
    process.exit(agentExitStatus(error.code));
  }
}

function wholeMs(flag: string, raw: string, max: number): number {
  const ms = Number(raw);
  if (!/^\d+$/.test(raw) || ms < 1 || ms > max) throw new ArmorError("E_USAGE", `${flag} must be a whole number from 1 to ${max}, got "${raw}"`);
  return ms;
}

const timeoutMs = (raw: string): number => wholeMs("--timeout-ms", raw, 600_000);

const serve = defineCommand({
  meta: { name: "serve", description: "Run the node agent: hold the registry and serve it on the socket" },
  args: {
    socket: socketArg,
    "log-level": { type: "enum", options: ["debug", "info", "warn", "error"], default: "info", description: "least severe log level written" },
    bootstrap: {
      type: "enum",
      options: ["none", "hook", "reconcile"],
      default: "none",
      description:
        "how pre-existing containers are learnt: none (ready at once), hook (wait for the hook's bootstrap batch), reconcile (enumerate runtime state at start)",
    },
    reconcile: { type: "boolean", default: false, description: "same as --bootstrap reconcile: for an agent on the host, restarted" },
    // The hook's names where they mean the same; the older names stay as aliases.
    "bootstrap-deadline-ms": {
      type: "string",
      alias: ["bootstrap-wait-ms"],
      default: String(DEFAULT_BOOTSTRAP_WAIT_MS),
      valueHint: "N",
      description: "with --bootstrap hook: wait this long for the batch, then enumerate runtime state itself (or be ready with a warning)",
    },
    "state-root": {
      type: "string",
      default: DEFAULT_STATE_ROOTS.map((root) => `${root.format}:${root.path}`).join(","),
      valueHint: "FORMAT:PATH[,…]",
      description: "runtime state roots to enumerate",
    },
    mode: {
      type: "enum",
      options: ["events", "poll"],
      default: "events",
      description: "events: containers come from hooks; poll: the polling baseline for benchmarks, listing runtime state every --interval-ms",
    },
    "interval-ms": { type: "string", default: "50", valueHint: "N", description: "with --mode poll: how often to list runtime state" },
    metrics: {
      type: "string",
      valueHint: "HOST:PORT",
      description: "serve /metrics (Prometheus), /healthz and /readyz (ready after bootstrap) on this address, e.g. 127.0.0.1:9469 (default off)",
    },
    "spool-dir": {
      type: "string",
      valueHint: "PATH",
      description: "where hooks leave events the agent could not take; replayed at start and every second (default: spool beside the socket)",
    },
    "gate-policy": {
      type: "enum",
      options: [...GATE_POLICIES],
      default: "open",
      description:
        "a gate (watch --gate) that times out or disconnects mid-decision: open starts the container with a warning (answer, hook log, metric); closed refuses it",
    },
    "sweep-interval-ms": {
      type: "string",
      default: String(DEFAULT_SWEEP_INTERVAL_MS),
      valueHint: "N",
      description: "look at every record's process this often, removing those that died without a poststop (source sweep)",
    },
    "warm-hook": {
      type: "boolean",
      default: true,
      description: "keep the pages a hook run touches resident (~30 MB locked), so the first container after the page cache was dropped starts fast",
      negativeDescription: "do not lock the hook binary's pages",
    },
    "hook-binary": {
      type: "string",
      default: DEFAULT_HOOK_BINARY,
      valueHint: "PATH",
      description: "the hook binary whose pages are kept resident (install.sh's --prefix)",
    },
    "bootstrap-settle-ms": {
      type: "string",
      alias: ["settle-ms"],
      default: String(DEFAULT_SETTLE_MS),
      valueHint: "N",
      description:
        "with --reconcile: enumerate runtime state once more N ms after start, adding running containers it missed (one whose state the runtime had not written yet); 0: never",
    },
  },
  run: ({ args }) =>
    guarded(async () => {
      const log = jsonLogger(args["log-level"] as Level);
      const agent = await startAgent({
        socket: args.socket,
        version: VERSION,
        log,
        bootstrap: args.reconcile ? "reconcile" : (args.bootstrap as BootstrapMode),
        bootstrapWaitMs: wholeMs("--bootstrap-deadline-ms", args["bootstrap-deadline-ms"], 3_600_000),
        stateRoots: parseStateRoots(args["state-root"]),
        ...(args["spool-dir"] ? { spoolDir: args["spool-dir"] } : {}),
        settleMs: args["bootstrap-settle-ms"] === "0" ? 0 : wholeMs("--bootstrap-settle-ms", args["bootstrap-settle-ms"], 3_600_000),
        ...(args.metrics ? { metrics: args.metrics } : {}),
        ...(args["warm-hook"] ? { warmHook: args["hook-binary"] } : {}),
        gatePolicy: args["gate-policy"] as GatePolicy,
        sweepIntervalMs: wholeMs("--sweep-interval-ms", args["sweep-interval-ms"], 3_600_000),
        ...(args.mode === "poll" ? { poll: { intervalMs: wholeMs("--interval-ms", args["interval-ms"], 3_600_000) } } : {}),
      });
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.on(signal, () => {
          log("info", "signal received", { signal });
          agent.stop();
          process.exit(0);
        });
      }
      await new Promise(() => {});
    }),
});

const list = defineCommand({
  meta: { name: "list", description: "List the containers the agent holds" },
  args: { socket: socketArg, json: jsonArg, "timeout-ms": timeoutArg },
  run: ({ args }) => guarded(() => listCommand(args.socket, timeoutMs(args["timeout-ms"]), args.json, print)),
});

const get = defineCommand({
  meta: { name: "get", description: "Show one container by id (exit 3 when not held)" },
  args: { id: { type: "positional", description: "container id", required: true }, socket: socketArg, json: jsonArg, "timeout-ms": timeoutArg },
  run: ({ args }) => guarded(() => getCommand(args.socket, timeoutMs(args["timeout-ms"]), args.id, args.json, print)),
});

const lookup = defineCommand({
  meta: {
    name: "lookup",
    description: "Which container owns a (pid, mnt) namespace pair, a host process (--pid) or a cgroup (--cgroup-id) (exit 3 when none)",
  },
  args: {
    pidns: { type: "positional", description: "pid namespace inode", required: false },
    mntns: { type: "positional", description: "mount namespace inode", required: false },
    pid: { type: "string", valueHint: "PID", description: "a host process id: the agent reads its /proc/PID/ns (a `runc exec` process finds its container)" },
    "cgroup-id": { type: "string", valueHint: "N", description: "a cgroup id, as bpf_get_current_cgroup_id() returns it" },
    socket: socketArg,
    json: jsonArg,
    "timeout-ms": timeoutArg,
  },
  run: ({ args }) =>
    guarded(() =>
      lookupCommand(
        args.socket,
        timeoutMs(args["timeout-ms"]),
        { pidns: args.pidns, mntns: args.mntns, pid: args.pid, cgroupId: args["cgroup-id"] },
        args.json,
        print,
      ),
    ),
});

const status = defineCommand({
  meta: { name: "status", description: "Version, uptime, state (bootstrapping/ready), counts and bootstrap of the agent" },
  args: {
    socket: socketArg,
    json: jsonArg,
    ready: { type: "boolean", default: false, description: "exit 6 unless the agent is ready (for readiness probes)" },
    "timeout-ms": timeoutArg,
  },
  run: ({ args }) => guarded(() => statusCommand(args.socket, timeoutMs(args["timeout-ms"]), args.json, args.ready, print)),
});

const checkHooks = defineCommand({
  meta: { name: "check-hooks", description: "Check hooks.d files as CRI-O/podman load them (install.sh runs this); exit 1 if any fails" },
  args: {
    root: { type: "string", default: "", valueHint: "DIR", description: "resolve hook paths inside DIR, as install.sh --root does" },
    files: { type: "positional", description: "hooks.d JSON files", required: true },
  },
  run: ({ args }) =>
    guarded(async () => {
      const files = args._.length > 0 ? args._ : [args.files];
      process.exit(checkHooksFiles(files, args.root, print) === 0 ? 0 : 1);
    }),
});

const containerdSpec = defineCommand({
  meta: {
    name: "containerd-spec",
    description: "containerd's base runtime spec with armor-hook, and the config line naming it (install.sh runs this)",
  },
  args: {
    action: { type: "positional", required: true, valueHint: CONTAINERD_SPEC_ACTIONS.join("|"), description: "build, check, names, set, unset or lines" },
    file: { type: "positional", required: false, description: "check: the spec; names, set, unset: the containerd config" },
    default: { type: "string", default: "", valueHint: "FILE", description: "build: the node's default spec (ctr oci spec)" },
    hooks: { type: "string", default: "", valueHint: "FILE", description: 'build: {"hooks": {"createRuntime": [entry], "poststop": [entry]}}' },
    spec: { type: "string", default: "", valueHint: "PATH", description: "names, set, unset, lines: the base spec's path on the node" },
    root: { type: "string", default: "", valueHint: "DIR", description: "check: resolve hook paths inside DIR, as install.sh --root does" },
  },
  run: ({ args }) =>
    guarded(async () => {
      const action = args.action as string;
      if (!(CONTAINERD_SPEC_ACTIONS as readonly string[]).includes(action)) {
        throw new ArmorError("E_USAGE", `containerd-spec: unknown action "${action}" (${CONTAINERD_SPEC_ACTIONS.join(", ")})`);
      }
      const options = {
        action: action as ContainerdSpecAction,
        file: args.file ?? "",
        defaultSpec: args.default,
        hooks: args.hooks,
        spec: args.spec,
        root: args.root,
      };
      process.exit(containerdSpecCommand(options, print));
    }),
});

const watch = defineCommand({
  meta: {
    name: "watch",
    description:
      "A snapshot of every container, then each change as it happens, with no gap; reconnects and resumes. With --gate: decide on each live registration",
  },
  args: {
    socket: socketArg,
    json: { ...jsonArg, description: "print the snapshot and each change as JSON lines (PROTOCOL.md)" },
    since: {
      type: "string",
      valueHint: "EPOCH:REV",
      description: "resume after this revision (an event's epoch and rev); a fresh snapshot (reset) if the agent no longer has it",
    },
    reconnect: { type: "boolean", default: false, description: "when the agent goes away, reconnect and resume (a gate always does) instead of exiting 4" },
    gate: { type: "string", valueHint: "NAME", description: "be a gate: the agent answers a container's hook only after --exec acked it" },
    exec: {
      type: "string",
      valueHint: "CMD",
      description: "with --gate: run CMD (sh -c) per gated add, record on stdin, ARMOR_CONTAINER_ID set; exit 0 acks, else nacks with its first stderr line",
    },
    "gate-timeout-ms": {
      type: "string",
      default: "1000",
      valueHint: "N",
      description: `with --gate: the agent waits at most N ms (up to ${MAX_GATE_TIMEOUT_MS}) for a decision, never beyond the hook's deadline`,
    },
    "timeout-ms": timeoutArg,
  },
  run: ({ args }) =>
    guarded(async () => {
      if ((args.gate === undefined) !== (args.exec === undefined)) throw new ArmorError("E_USAGE", "--gate NAME and --exec CMD go together");
      const gate =
        args.gate === undefined || args.exec === undefined
          ? undefined
          : {
              name: parseWith(GateNameSchema, args.gate, "--gate", "E_USAGE"),
              exec: args.exec,
              timeoutMs: wholeMs("--gate-timeout-ms", args["gate-timeout-ms"], MAX_GATE_TIMEOUT_MS),
            };
      const warn = (line: string): void => console.error(line);
      await watchCommand(
        { socket: args.socket, timeoutMs: timeoutMs(args["timeout-ms"]), json: args.json, since: args.since, reconnect: args.reconnect, gate, warn },
        // process.stdout.write, not console.log, which swallows EPIPE: a closed reader must end the watch (quietly, below).
        (line) => void process.stdout.write(`${line}\n`),
      );
    }),
});

/** Opens a log file now (rotations after this change nothing), or null when absent. */
function openLogFile(path: string): OpenedLog | null {
  let opened: { fd: number; stat: Stats };
  try {
    // lib/safe-read.ts: a FIFO, a link or a directory at the path must not hang or mislead the command.
    opened = openRegular(path);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return null;
    throw new ArmorError("E_USAGE", `cannot read ${path}: ${readFailure(err)}`, { cause: err });
  }
  return { identity: `${opened.stat.dev}:${opened.stat.ino}`, chunks: readChunks(opened.fd, path) };
}

function* readChunks(fd: number, path: string): Generator<Uint8Array> {
  try {
    for (;;) {
      const chunk = new Uint8Array(64 * 1024);
      const n = readSync(fd, chunk);
      if (n === 0) return;
      yield chunk.subarray(0, n);
    }
  } catch (err) {
    throw new ArmorError("E_INTERNAL", `cannot read ${path}: ${errnoOf(err) ?? String(err)}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

const hookLog = defineCommand({
  meta: {
    name: "hook-log",
    description: "Show the hook's log in the order written: reads files only, no agent needed (exit 2 when no log, 3 when CONTAINER has no record)",
  },
  args: {
    container: {
      type: "positional",
      required: false,
      description: "only records whose container id starts with CONTAINER, or whose pod (namespace/name) or container name is CONTAINER",
    },
    socket: { ...socketArg, description: "agent socket: the log is hook.log beside it" },
    "log-file": { type: "string", valueHint: "PATH", description: "the hook's log, read with PATH.1 … PATH.20 (default: hook.log beside --socket)" },
    json: { ...jsonArg, description: "print the records as JSON lines, as written" },
    tail: { type: "string", valueHint: "N", description: `only the last N matching records, N up to ${MAX_TAIL}` },
    result: { type: "string", valueHint: "R[,R…]", description: `only these results: ${HOOK_RESULTS.join(", ")}` },
  },
  run: ({ args }) =>
    guarded(async () => {
      if (args._.length > 1) throw new ArmorError("E_USAGE", `hook-log takes one CONTAINER, got ${args._.length}`);
      const query = parseHookLogQuery({ container: args.container, result: args.result, tail: args.tail });
      const path = args["log-file"] ?? layout(args.socket).hookLog;
      const warn = (line: string): void => console.error(`armor-agent: ${escapeText(line)}`);
      await hookLogCommand(path, query, args.json, { open: openLogFile, print, warn });
    }),
});

const completion = defineCommand({
  meta: { name: "completion", description: "Print a shell completion script generated from these commands: source <(armor-agent completion bash)" },
  args: { shell: { type: "positional", description: "bash", required: true } },
  run: ({ args }) =>
    guarded(async () => {
      if (args.shell !== "bash") throw new ArmorError("E_USAGE", `completion supports bash, got "${args.shell}"`);
      process.stdout.write(await bashCompletion(main));
    }),
});

const nri = defineCommand({
  meta: {
    name: "nri",
    description:
      "Run the NRI plugin (containerd >= 1.7): inject armor-hook into every container, hand the agent what runs at every Synchronize, register sandboxes. Its own process: the NRI socket controls every container",
  },
  args: nriArgsTable(Object.values(HOOK_FLAGS)),
  run: ({ rawArgs }) =>
    guarded(async () => {
      const own = parseNriArgs(rawArgs);
      // The hook's own parser checks the entry's options: what the runtime will run is what was validated.
      const hook = parseHookArgs(own.hookArgv);
      if (hook.stage !== undefined) throw new ArmorError("E_USAGE", `nri takes no stage or other argument, got "${hook.stage}"`);
      const log = jsonLogger(own.logLevel);
      // One plugin per agent socket (so per node): a second would add every hook twice. Held for life.
      takeAgentLock(layout(hook.socket).nriLock);
      const plugin = new NriPlugin(
        {
          hooks: hookEntries({ hookPath: own.hookPath, hookArgs: own.hookArgv, timeoutMs: hook.timeoutMs }),
          hookPath: own.hookPath,
          failPolicy: hook.failPolicy,
          failAllowNamespaces: hook.failAllowNamespaces,
          agentNamespace: hook.agentNamespace,
          agentName: hook.agentName,
        },
        {
          agent: socketAgentPort(hook.socket, hook.timeoutMs),
          describe: (ref) =>
            describeNri(ref, {
              readText: readHostText,
              readLink: (path) => readlinkSync(path),
              statIno: (path) => statSync(path).ino,
              stateRoots: hook.stateRoots,
              log,
            }),
          agentEverStarted: () => existsSync(hook.spoolDir),
          log,
        },
      );
      const component = nriComponent({ nriSocket: own.nriSocket, pluginIndex: own.pluginIndex, plugin, log });
      component.start();
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.on(signal, () => {
          log("info", "signal received", { signal });
          component.stop();
          process.exit(0);
        });
      }
      await new Promise(() => {});
    }),
});

const main = defineCommand({
  meta: { name: "armor-agent", version: VERSION, description: "armor-hooks node agent: registry of monitored containers" },
  subCommands: { serve, status, list, get, lookup, watch, "hook-log": hookLog, "check-hooks": checkHooks, nri, "containerd-spec": containerdSpec, completion },
});

// A reader that closed the pipe (`armor-agent watch | head -1`) ends the command quietly.
process.stdout.on("error", (err) => process.exit(errnoOf(err) === "EPIPE" ? 0 : 1));
await runCli(main, process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  exit: (status) => process.exit(status),
  colour: wantsColour(process.env, process.stdout.isTTY === true),
});
