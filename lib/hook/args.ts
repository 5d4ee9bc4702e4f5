/**
 * armor-hook's command line, parsed by hand: a CLI framework on the hook's hot
 * path would cost every container start more than this whole file.
 */
import { DEFAULT_SETTLE_MS, DEFAULT_STATE_ROOTS, parseStateRoot, type StateRoot } from "../bootstrap/state-roots.ts";
import { ArmorError } from "../errors.ts";
import { layout } from "../layout.ts";
import type { FailPolicy } from "../fail-policy.ts";
import { DEFAULT_SOCKET } from "../wire/messages.ts";

export { DEFAULT_SOCKET };
export type { FailPolicy };
/** Default bound on the hook's whole run; install.sh gives runtimes a `timeout` 3 s above it. */
export const DEFAULT_TIMEOUT_MS = 2000;
/** The Kubernetes namespace the agent runs in (deploy/kubernetes). */
export const DEFAULT_AGENT_NAMESPACE = "armor-system";
/** How long the bootstrap fork waits for the agent's socket to answer. */
export const DEFAULT_BOOTSTRAP_DEADLINE_MS = 120_000;
/** The hook's log rotates at this size by default; with two rotated files kept, it never holds much more than 3 MiB. */
export const DEFAULT_LOG_MAX_BYTES = 1024 * 1024;
/** Rotated hook log files kept by default (`hook.log.1`, `hook.log.2`). */
export const DEFAULT_LOG_KEEP = 2;
/** A container is the agent's own when its process.args[0] basename or its container-name annotation is this. */
export const DEFAULT_AGENT_NAME = "armor-agent";

/** The hook's options after validation. */
export interface HookArgs {
  socket: string;
  timeoutMs: number;
  stage: string | undefined;
  agentName: string;
  stateRoots: StateRoot[];
  bootstrapDeadlineMs: number;
  /** How long after its batch the bootstrap enumerates once more and sends what it missed; 0: never. */
  bootstrapSettleMs: number;
  /** Where the bootstrap fork logs; by default `bootstrap.log` beside the socket. */
  bootstrapLog: string;
  failPolicy: FailPolicy;
  /** Pod namespaces whose containers start even when fail-closed refuses others. */
  failAllowNamespaces: string[];
  agentNamespace: string;
  /** The hook's own log (one line per call); null with --no-log-file. By default `hook.log` beside the socket. */
  logFile: string | null;
  logMaxBytes: number;
  logKeep: number;
  /** Where events the agent could not take are left for it; by default `spool` beside the socket. */
  spoolDir: string;
  help: boolean;
  version: boolean;
}

export const HOOK_USAGE = `usage: armor-hook [createRuntime|poststop] [--socket PATH] [--timeout-ms N] [bootstrap options]
       armor-hook bootstrap [--socket PATH] [bootstrap options]

Executed by an OCI runtime with the container's state on stdin. At createRuntime it
registers the container with armor-agent and returns once the agent holds it; at
poststop it unregisters it. Without a stage argument, the state's status decides.
For the agent's own container it registers nothing and starts a detached
\`armor-hook bootstrap\`, which waits for the agent and sends it the containers that
were already running, read from the runtimes' state roots.

  --socket PATH                agent socket (default ${DEFAULT_SOCKET})
  --timeout-ms N               give up on the agent after N ms, 1..60000 (default ${DEFAULT_TIMEOUT_MS});
                               the container then starts unmonitored (fail-open) with a warning
  --agent-name NAME            process.args[0] basename or container name of the agent's own
                               container (default ${DEFAULT_AGENT_NAME})
  --state-root FORMAT:PATH     runtime state root to enumerate, repeatable (default
                               ${DEFAULT_STATE_ROOTS.map((r) => `${r.format}:${r.path}`).join(" ")})
  --bootstrap-deadline-ms N    how long the bootstrap waits for the agent (default ${DEFAULT_BOOTSTRAP_DEADLINE_MS})
  --bootstrap-log PATH         the bootstrap's log file (default: bootstrap.log beside the socket)
  --bootstrap-settle-ms N      after its batch, the bootstrap enumerates once more N ms later and sends
                               the containers it missed (default ${DEFAULT_SETTLE_MS}; 0: never)
  --fail-policy open|closed    when the agent cannot confirm a registration: start the container
                               anyway (open, default) or refuse it (closed: exit 7, the runtime
                               destroys it), except for allowed namespaces, the agent's own
                               container, and a node where the agent never started (no spool dir)
  --fail-allow-namespaces NS,… pod namespaces fail-closed never refuses (default kube-system and
                               the agent namespace; empty: none)
  --agent-namespace NS         the agent's own pod namespace (default ${DEFAULT_AGENT_NAMESPACE})
  --spool-dir PATH             where unsent events are left for the agent (default: spool beside
                               the socket; only used when the agent has created it)
  --log-file PATH              the hook's own log: one JSON line per call, with its result and
                               duration (default: hook.log beside the socket)
  --log-max-bytes N            rotate the hook's log (and the bootstrap's) at N bytes, 4096..1073741824
                               (default ${DEFAULT_LOG_MAX_BYTES})
  --log-keep N                 rotated files kept, 1..20: PATH.1 newest (default ${DEFAULT_LOG_KEEP})
  --no-log-file                write no log file
  --help, --version

exit status: 0 registered/unregistered (or agent unreachable, fail-open), 2 bad usage or
unknown stage, 3 bad state on stdin, 4 bad bundle config.json, 5 container process gone,
6 agent refused the request or broke the protocol, 7 agent unreachable with --fail-policy
closed (container refused) or bootstrap could not reach the agent, 1 internal error`;

function wholeNumber(flag: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new ArmorError("E_USAGE", `${flag} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}

/** Parses argv (without the executable); throws E_USAGE naming the bad flag. */
export function parseHookArgs(argv: readonly string[]): HookArgs {
  let socket = DEFAULT_SOCKET;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  let stage: string | undefined;
  let agentName = DEFAULT_AGENT_NAME;
  const stateRoots: StateRoot[] = [];
  let bootstrapDeadlineMs = DEFAULT_BOOTSTRAP_DEADLINE_MS;
  let bootstrapSettleMs = DEFAULT_SETTLE_MS;
  let bootstrapLog: string | undefined;
  let failPolicy: FailPolicy = "open";
  let failAllowNamespaces: string[] | undefined;
  let agentNamespace = DEFAULT_AGENT_NAMESPACE;
  let spoolDir: string | undefined;
  let logFile: string | null | undefined;
  let logMaxBytes = DEFAULT_LOG_MAX_BYTES;
  let logKeep = DEFAULT_LOG_KEEP;
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined || next === "") throw new ArmorError("E_USAGE", `${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "--socket":
        socket = value();
        break;
      case "--timeout-ms":
        timeoutMs = wholeNumber(flag, value(), 1, 60_000);
        break;
      case "--agent-name":
        agentName = value();
        break;
      case "--state-root":
        stateRoots.push(parseStateRoot(value()));
        break;
      case "--bootstrap-deadline-ms":
        bootstrapDeadlineMs = wholeNumber(flag, value(), 1, 3_600_000);
        break;
      case "--bootstrap-settle-ms": {
        const raw = value();
        bootstrapSettleMs = raw === "0" ? 0 : wholeNumber(flag, raw, 1, 3_600_000);
        break;
      }
      case "--bootstrap-log":
        bootstrapLog = value();
        break;
      case "--fail-policy": {
        const policy = value();
        if (policy !== "open" && policy !== "closed") throw new ArmorError("E_USAGE", `--fail-policy must be open or closed, got "${policy}"`);
        failPolicy = policy;
        break;
      }
      case "--fail-allow-namespaces":
        // An empty list is meaningful here (allow none), so the value may be "".
        failAllowNamespaces = (inline ?? argv[++i] ?? "").split(",").filter((ns) => ns !== "");
        break;
      case "--agent-namespace":
        agentNamespace = value();
        break;
      case "--spool-dir":
        spoolDir = value();
        break;
      case "--log-file":
        logFile = value();
        break;
      case "--no-log-file":
        logFile = null;
        break;
      case "--log-max-bytes":
        logMaxBytes = wholeNumber(flag, value(), 4096, 1024 ** 3);
        break;
      case "--log-keep":
        logKeep = wholeNumber(flag, value(), 1, 20);
        break;
      case "--help":
      case "-h":
        help = true;
        break;
      case "--version":
        version = true;
        break;
      default:
        if (flag.startsWith("-")) throw new ArmorError("E_USAGE", `unknown flag ${flag}`);
        if (stage !== undefined) throw new ArmorError("E_USAGE", `unexpected argument "${arg}" after stage "${stage}"`);
        stage = arg;
    }
  }
  const files = layout(socket);
  return {
    socket,
    timeoutMs,
    stage,
    agentName,
    stateRoots: stateRoots.length > 0 ? stateRoots : [...DEFAULT_STATE_ROOTS],
    bootstrapDeadlineMs,
    bootstrapSettleMs,
    bootstrapLog: bootstrapLog ?? files.bootstrapLog,
    failPolicy,
    failAllowNamespaces: failAllowNamespaces ?? ["kube-system", agentNamespace],
    agentNamespace,
    spoolDir: spoolDir ?? files.spool,
    logFile: logFile === undefined ? files.hookLog : logFile,
    logMaxBytes,
    logKeep,
    help,
    version,
  };
}

/** Where and how the hook logs (the options of lib/rotating-log.ts). */
export interface LogSettings {
  path: string;
  maxBytes: number;
  keep: number;
}

/**
 * The log settings of an argv that parseHookArgs() refused: the log file it names (or
 * the default beside the socket it names), so that even a broken hook entry, which
 * fails every container, leaves a line where the operator will look. Null with --no-log-file.
 */
export function lenientLogSettings(argv: readonly string[]): LogSettings | null {
  let socket = DEFAULT_SOCKET;
  let path: string | null | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const next = (): string | undefined => (eq > 0 && flag !== arg ? arg.slice(eq + 1) : argv[i + 1]);
    if (flag === "--socket" && next()) socket = next() as string;
    else if (flag === "--log-file" && next()) path = next() as string;
    else if (flag === "--no-log-file") path = null;
  }
  if (path === null) return null;
  return { path: path ?? layout(socket).hookLog, maxBytes: DEFAULT_LOG_MAX_BYTES, keep: DEFAULT_LOG_KEEP };
}

/** The argv of the detached `armor-hook bootstrap` that the hook starts for the agent's container. */
export function bootstrapArgv(args: HookArgs): string[] {
  return [
    "bootstrap",
    "--socket",
    args.socket,
    "--timeout-ms",
    String(args.timeoutMs),
    "--bootstrap-deadline-ms",
    String(args.bootstrapDeadlineMs),
    "--bootstrap-settle-ms",
    String(args.bootstrapSettleMs),
    "--bootstrap-log",
    args.bootstrapLog,
    "--log-max-bytes",
    String(args.logMaxBytes),
    "--log-keep",
    String(args.logKeep),
    ...args.stateRoots.flatMap((root) => ["--state-root", `${root.format}:${root.path}`]),
  ];
}
