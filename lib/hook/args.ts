/**
 * armor-hook's command line: one table of flags drives the parsing, the usage text,
 * the bootstrap fork's argv and the tests (tests/unit/hook-args.test.ts). Parsed by
 * hand: a CLI framework on the hook's hot path would cost every container start
 * more than this whole file. Value checks are valibot pipes built on first use.
 *
 * One tokenizer: `--flag value` or `--flag=value`; a value that starts with "-" only
 * inline (`--flag=-v`), so a forgotten value never swallows the next flag; unknown
 * flags are refused (E_USAGE, exit 2).
 */
import * as v from "valibot";
import { DEFAULT_SETTLE_MS, DEFAULT_STATE_ROOTS, parseStateRoots, type StateRoot } from "../bootstrap/state-roots.ts";
import { ArmorError } from "../errors.ts";
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, MAX_LOG_KEEP, MAX_LOG_MAX_BYTES, MIN_LOG_MAX_BYTES } from "../hook-log-record.ts";
import { DEFAULT_SOCKET, layout } from "../layout.ts";
import type { FailPolicy } from "../fail-policy.ts";

export { DEFAULT_SOCKET };
export type { FailPolicy };
/** Default bound on the hook's whole run; install.sh gives runtimes a `timeout` 3 s above it. */
export const DEFAULT_TIMEOUT_MS = 2000;
/** The Kubernetes namespace the agent runs in (deploy/kubernetes). */
export const DEFAULT_AGENT_NAMESPACE = "armor-system";
/** How long the bootstrap fork waits for the agent's socket to answer. */
export const DEFAULT_BOOTSTRAP_DEADLINE_MS = 120_000;
export { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES };
/** The container name (and process.args[0] basename) of the agent's own container. */
export const DEFAULT_AGENT_NAME = "armor-agent";

/** The hook's options after validation: one field per flag of HOOK_FLAGS, and the stage. */
export interface HookArgs {
  socket: string;
  timeoutMs: number;
  agentName: string;
  agentNamespace: string;
  /** The agent runs in a container without a pod (podman, plain runc): recognise it by name alone. */
  agentOutsideKubernetes: boolean;
  /** Set by the hook for its bootstrap fork: the agent's own container (ContainerInfo as JSON), or "". */
  agentContainer: string;
  stateRoots: StateRoot[];
  bootstrapDeadlineMs: number;
  /** How long after its batch the bootstrap enumerates once more and sends what it missed; 0: never. */
  bootstrapSettleMs: number;
  bootstrapLog: string;
  failPolicy: FailPolicy;
  /** Pod namespaces whose containers start even when fail-closed refuses others. */
  failAllowNamespaces: string[];
  spoolDir: string;
  logFile: string;
  noLogFile: boolean;
  logMaxBytes: number;
  logKeep: number;
  help: boolean;
  version: boolean;
  /** The positional argument, judged by resolveStage() (lib/oci/state.ts). */
  stage: string | undefined;
}

type FlagKey = Exclude<keyof HookArgs, "stage">;

/** One flag: its name, how its value is read, its default, its help, whether the fork gets it. */
interface Flag<T> {
  name: string;
  /** The value's placeholder in the usage; absent for a switch (no value). */
  hint?: string;
  /** Parses the raw value; throws the reason (without the flag's name) as an ArmorError. */
  parse?: (raw: string) => T;
  /** The default, or how it follows from the other options. */
  fallback: T | ((args: Readonly<HookArgs>) => T);
  /** The default as the usage shows it. */
  shown?: string;
  help: string;
  /** Given to the detached `armor-hook bootstrap`. */
  fork?: boolean;
  /** The value may be empty (`--fail-allow-namespaces=`: allow none). */
  mayBeEmpty?: boolean;
  /** Repeating the flag adds to the list rather than replacing it. */
  repeatable?: boolean;
}

/** A value check from a valibot pipe built on first use: a flag that is never given costs nothing. */
function checked<T>(build: () => v.GenericSchema<string, T>): (raw: string) => T {
  let schema: v.GenericSchema<string, T> | undefined;
  return (raw) => {
    const result = v.safeParse((schema ??= build()), raw);
    if (result.success) return result.output;
    throw new ArmorError("E_USAGE", result.issues[0].message);
  };
}

const wholeNumber = (min: number, max: number) =>
  checked(() => {
    const message = `must be a whole number from ${min} to ${max}`;
    return v.pipe(v.string(), v.regex(/^\d{1,10}$/, message), v.transform(Number), v.minValue(min, message), v.maxValue(max, message));
  });
// A relative path would be resolved against the runtime's working directory: the bundle.
const absolutePath = checked(() => v.pipe(v.string(), v.startsWith("/", "must be an absolute path"), v.maxLength(4096, "is longer than 4096 characters")));
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME_MESSAGE = "must be a Kubernetes name (lower-case letters, digits and '-', at most 63)";
const kubernetesName = checked(() => v.pipe(v.string(), v.regex(NAME, NAME_MESSAGE)));
const namespaceList = checked(() =>
  v.pipe(
    v.string(),
    v.transform((raw) => raw.split(",").filter((ns) => ns !== "")),
    v.array(v.pipe(v.string(), v.regex(NAME, `must list Kubernetes namespaces (lower-case letters, digits and '-', at most 63)`))),
  ),
);
const policy = checked(() => v.picklist(["open", "closed"], "must be open or closed"));
const stateRoots = (raw: string): StateRoot[] => {
  try {
    return parseStateRoots(raw);
  } catch {
    throw new ArmorError("E_USAGE", "must be runc:/absolute/path or crun:/absolute/path");
  }
};

/** Every flag of armor-hook, once. The usage, the parser, the fork's argv and the tests read this. */
export const HOOK_FLAGS: { readonly [K in FlagKey]: Flag<HookArgs[K]> } = {
  socket: { name: "--socket", hint: "PATH", parse: absolutePath, fallback: DEFAULT_SOCKET, help: "agent socket", fork: true },
  timeoutMs: {
    name: "--timeout-ms",
    hint: "N",
    parse: wholeNumber(1, 60_000),
    fallback: DEFAULT_TIMEOUT_MS,
    help: "the hook's whole run ends within N ms, 1..60000; the policy then decides",
    fork: true,
  },
  failPolicy: {
    name: "--fail-policy",
    hint: "open|closed",
    parse: policy,
    fallback: "open",
    help: "when the agent cannot confirm a registration: start the container anyway (open) or\nrefuse it (closed: exit 7, the runtime destroys it), except for allowed namespaces, the\nagent's own container, and a node where the agent never started (no spool dir)",
  },
  failAllowNamespaces: {
    name: "--fail-allow-namespaces",
    hint: "NS,…",
    parse: namespaceList,
    fallback: (args) => ["kube-system", args.agentNamespace],
    shown: "kube-system and the agent namespace",
    help: "pod namespaces fail-closed never refuses (--fail-allow-namespaces= : none)",
    mayBeEmpty: true,
  },
  agentNamespace: {
    name: "--agent-namespace",
    hint: "NS",
    parse: kubernetesName,
    fallback: DEFAULT_AGENT_NAMESPACE,
    help: "the agent's own pod namespace",
  },
  agentOutsideKubernetes: {
    name: "--agent-outside-kubernetes",
    fallback: false,
    help: "the agent's container has no pod: recognise it by name alone (otherwise only a container\nof a pod in --agent-namespace is the agent's)",
  },
  agentContainer: {
    name: "--agent-container",
    hint: "JSON",
    parse: checked(() => v.pipe(v.string(), v.maxLength(64 * 1024, "is longer than 64 KiB"))),
    fallback: "",
    help: "set by the hook for its bootstrap fork: the agent's own container, registered once the agent answers",
    fork: true,
    mayBeEmpty: true,
  },
  agentName: {
    name: "--agent-name",
    hint: "NAME",
    parse: kubernetesName,
    fallback: DEFAULT_AGENT_NAME,
    help: "container name (and process.args[0] basename) of the agent's own container",
  },
  spoolDir: {
    name: "--spool-dir",
    hint: "PATH",
    parse: absolutePath,
    fallback: (args) => layout(args.socket).spool,
    shown: "spool beside the socket",
    help: "where unsent events are left for the agent (only once the agent created it)",
  },
  stateRoots: {
    name: "--state-root",
    hint: "FORMAT:PATH[,…]",
    parse: stateRoots,
    fallback: () => [...DEFAULT_STATE_ROOTS],
    shown: DEFAULT_STATE_ROOTS.map((r) => `${r.format}:${r.path}`).join(","),
    help: "runtime state roots the bootstrap enumerates (repeatable)",
    fork: true,
    repeatable: true,
  },
  bootstrapDeadlineMs: {
    name: "--bootstrap-deadline-ms",
    hint: "N",
    parse: wholeNumber(1, 3_600_000),
    fallback: DEFAULT_BOOTSTRAP_DEADLINE_MS,
    help: "how long the bootstrap waits for the agent",
    fork: true,
  },
  bootstrapSettleMs: {
    name: "--bootstrap-settle-ms",
    hint: "N",
    parse: wholeNumber(0, 3_600_000),
    fallback: DEFAULT_SETTLE_MS,
    help: "after its batch, the bootstrap enumerates once more N ms later and sends the\ncontainers it missed (0: never)",
    fork: true,
  },
  bootstrapLog: {
    name: "--bootstrap-log",
    hint: "PATH",
    parse: absolutePath,
    fallback: (args) => layout(args.socket).bootstrapLog,
    shown: "bootstrap.log beside the socket",
    help: "the bootstrap's log file",
    fork: true,
  },
  logFile: {
    name: "--log-file",
    hint: "PATH",
    parse: absolutePath,
    fallback: (args) => layout(args.socket).hookLog,
    shown: "hook.log beside the socket",
    help: "the hook's own log: one JSON line per call, with its result and duration",
  },
  noLogFile: { name: "--no-log-file", fallback: false, help: "write no log file" },
  logMaxBytes: {
    name: "--log-max-bytes",
    hint: "N",
    parse: wholeNumber(MIN_LOG_MAX_BYTES, MAX_LOG_MAX_BYTES),
    fallback: DEFAULT_LOG_MAX_BYTES,
    help: "rotate the hook's log (and the bootstrap's) at N bytes, 4096..1073741824",
    fork: true,
  },
  logKeep: {
    name: "--log-keep",
    hint: "N",
    parse: wholeNumber(1, MAX_LOG_KEEP),
    fallback: DEFAULT_LOG_KEEP,
    help: "rotated files kept, 1..20: PATH.1 newest",
    fork: true,
  },
  help: { name: "--help", fallback: false, help: "this text (also -h)" },
  version: { name: "--version", fallback: false, help: "the version" },
};

const BY_NAME: ReadonlyMap<string, FlagKey> = new Map([
  ...(Object.keys(HOOK_FLAGS) as FlagKey[]).map((key) => [HOOK_FLAGS[key].name, key] as const),
  ["-h", "help"],
]);

/** The argv parsed as far as it goes: every flag that was right, and the first problem, if any. */
export interface ParsedArgs {
  args: HookArgs;
  error?: ArmorError;
}

/**
 * Parses argv (without the executable). Never throws: a bad flag is reported in
 * `error` and left at its default, so that even a broken hook entry, which fails
 * every container, logs where the entry meant to log.
 */
export function readHookArgs(argv: readonly string[]): ParsedArgs {
  const given: Partial<Record<FlagKey, unknown>> = {};
  let stage: string | undefined;
  let error: ArmorError | undefined;
  const fail = (message: string): void => void (error ??= new ArmorError("E_USAGE", message));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("-") || arg === "-") {
      if (stage === undefined) stage = arg;
      else fail(`unexpected argument "${arg}" after stage "${stage}"`);
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const key = BY_NAME.get(name);
    if (key === undefined) {
      fail(`unknown flag ${name}`);
      continue;
    }
    const flag: Flag<unknown> = HOOK_FLAGS[key];
    if (flag.parse === undefined) {
      if (eq > 0) fail(`${name} takes no value`);
      else given[key] = true;
      continue;
    }
    let raw: string | undefined = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (raw === undefined) {
      const next = argv[i + 1];
      // A separate value never starts with "-": `--socket --log-file x` is a missing socket, not a socket named "--log-file".
      if (next !== undefined && !next.startsWith("-")) raw = argv[++i];
    }
    if (raw === undefined || (raw === "" && !flag.mayBeEmpty)) {
      fail(`${name} needs a value${flag.mayBeEmpty ? ` (${name}= for none)` : ""}`);
      continue;
    }
    try {
      const value = flag.parse(raw);
      const before = given[key];
      given[key] = flag.repeatable && Array.isArray(before) && Array.isArray(value) ? [...before, ...value] : value;
    } catch (err) {
      const reason = err instanceof ArmorError ? err.message : String(err);
      fail(`${name} ${reason}, got ${JSON.stringify(raw)}`);
    }
  }
  if (given.noLogFile === true && given.logFile !== undefined) fail("--log-file and --no-log-file exclude each other");
  return error === undefined ? { args: withDefaults(given, stage) } : { args: withDefaults(given, stage), error };
}

/** Fills what was not given: plain defaults first, then those that follow from other options. */
function withDefaults(given: Partial<Record<FlagKey, unknown>>, stage: string | undefined): HookArgs {
  const args: Record<string, unknown> = { stage };
  const keys = Object.keys(HOOK_FLAGS) as FlagKey[];
  for (const key of keys) {
    const fallback = HOOK_FLAGS[key].fallback;
    if (typeof fallback !== "function") args[key] = given[key] ?? fallback;
  }
  for (const key of keys) {
    const fallback: unknown = HOOK_FLAGS[key].fallback;
    if (typeof fallback === "function") args[key] = given[key] ?? fallback(args);
  }
  return args as unknown as HookArgs;
}

/** Parses argv (without the executable); throws E_USAGE naming the first bad flag. */
export function parseHookArgs(argv: readonly string[]): HookArgs {
  const { args, error } = readHookArgs(argv);
  if (error) throw error;
  return args;
}

/** Where and how the hook logs (the options of lib/rotating-log.ts). */
export interface LogSettings {
  path: string;
  maxBytes: number;
  keep: number;
}

/** The hook's log settings, or null with --no-log-file. */
export function logSettings(args: HookArgs): LogSettings | null {
  return args.noLogFile ? null : { path: args.logFile, maxBytes: args.logMaxBytes, keep: args.logKeep };
}

/**
 * The argv of the detached `armor-hook bootstrap`: every flag marked `fork`, written
 * inline (`--flag=value`) so no value can be taken for a flag.
 */
export function bootstrapArgv(args: HookArgs): string[] {
  const argv = ["bootstrap"];
  for (const key of Object.keys(HOOK_FLAGS) as FlagKey[]) {
    const flag: Flag<unknown> = HOOK_FLAGS[key];
    if (!flag.fork) continue;
    const value = args[key];
    if (key === "stateRoots") for (const root of args.stateRoots) argv.push(`${flag.name}=${root.format}:${root.path}`);
    else argv.push(`${flag.name}=${String(value)}`);
  }
  return argv;
}

/** The usage text, from the table. */
export function hookUsage(): string {
  const lines = (Object.keys(HOOK_FLAGS) as FlagKey[]).map((key) => {
    const flag: Flag<unknown> = HOOK_FLAGS[key];
    const head = `  ${flag.name}${flag.hint ? ` ${flag.hint}` : ""}`;
    const fallback = flag.shown ?? (typeof flag.fallback === "function" || typeof flag.fallback === "boolean" ? undefined : String(flag.fallback));
    const help = flag.help + (fallback === undefined ? "" : ` (default ${fallback})`);
    return `${head.padEnd(31)}${help.replaceAll("\n", `\n${" ".repeat(31)}`)}`;
  });
  return `usage: armor-hook [createRuntime|poststop] [flags]
       armor-hook bootstrap [flags]

Executed by an OCI runtime with the container's state on stdin. At createRuntime it
registers the container with armor-agent and returns once the agent holds it; at
poststop it unregisters it. Without a stage argument, the state's status decides.
For the agent's own container it registers nothing and starts a detached
\`armor-hook bootstrap\`, which waits for the agent and sends it the containers that
were already running, read from the runtimes' state roots.

${lines.join("\n")}

exit status: 0 registered/unregistered (or agent unreachable, fail-open), 2 bad usage or
unknown stage, 3 bad state on stdin, 4 bad bundle config.json, 5 container process gone,
6 agent refused the request or broke the protocol, 7 agent unreachable with --fail-policy
closed (container refused) or bootstrap could not reach the agent, 1 internal error`;
}
