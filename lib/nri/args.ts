/**
 * `armor-agent nri`'s command line: its own flags, and the hook entry's options,
 * which pass through untouched into the injected hook's argv (armor-hook's own
 * parser validates them, so they are spelled and checked in one place).
 */
import { ArmorError } from "../errors.ts";
import type { Level } from "../log.ts";
import { DEFAULT_SOCKET } from "../wire/messages.ts";
import { DEFAULT_NRI_SOCKET, DEFAULT_PLUGIN_INDEX, parsePluginIndex } from "./connection.ts";
import { DEFAULT_HOOK_PATH } from "./hook-entry.ts";

/** The plugin's own flags, each taking a value: name, default, help. */
export const NRI_FLAGS = {
  "--nri-socket": { default: DEFAULT_NRI_SOCKET, help: "the runtime's NRI socket" },
  "--plugin-index": { default: DEFAULT_PLUGIN_INDEX, help: "two digits: the runtime calls plugins in ascending index order" },
  "--hook-path": { default: DEFAULT_HOOK_PATH, help: "the armor-hook binary the injected entry runs" },
  "--log-level": { default: "info", help: "least severe log level written: debug, info, warn, error" },
} as const;

/** One of armor-hook's flags, as its table (lib/hook/args.ts HOOK_FLAGS) has it: agent.ts passes them in. */
export interface HookFlag {
  name: string;
  /** Absent for a switch. */
  hint?: string;
  help: string;
}

/** Hook options the plugin reads for itself too. */
const USED_HERE: Record<string, string> = {
  "--socket": "the plugin's batches and sandboxes go there too",
  "--timeout-ms": "also the plugin's bound on each agent call",
  "--state-root": "the plugin finds bundles there",
  "--fail-policy": "closed: the plugin refuses CreateContainer while the agent does not answer",
  "--fail-allow-namespaces": "the plugin's refusals spare them too",
  "--agent-namespace": "with --agent-name, the agent's own pod, never refused",
  "--spool-dir": "its absence means the agent never started here: nothing refused",
};

type ArgDef = { type: "string" | "boolean"; description: string; valueHint?: string };

/** The nri command's args table (citty's shape, for its usage and the strict flag check): its own flags, then the hook's. */
export function nriArgsTable(hookFlags: readonly HookFlag[]): Record<string, ArgDef> {
  const table: Record<string, ArgDef> = {};
  for (const [flag, def] of Object.entries(NRI_FLAGS))
    table[flag.slice(2)] = { type: "string", description: `${def.help} (default ${def.default})`, valueHint: "VALUE" };
  for (const flag of hookFlags) {
    if (flag.name === "--help" || flag.name === "--version") continue;
    const used = flag.name in USED_HERE ? `; ${USED_HERE[flag.name]}` : "";
    const description = `[hook entry] ${flag.help.replaceAll("\n", " ")}${used}`;
    table[flag.name.slice(2)] = flag.hint === undefined ? { type: "boolean", description } : { type: "string", description, valueHint: flag.hint };
  }
  return table;
}

/** Hook options the entry always carries, as install.sh writes them. */
const ALWAYS = { "--socket": DEFAULT_SOCKET, "--timeout-ms": "2000" } as const;

export interface NriArgs {
  nriSocket: string;
  pluginIndex: string;
  hookPath: string;
  logLevel: Level;
  /** The hook's options, `--socket S --timeout-ms T` first, then the rest as given. */
  hookArgv: string[];
}

const LEVELS: readonly Level[] = ["debug", "info", "warn", "error"];

/** Splits argv (after `nri`); throws E_USAGE. */
export function parseNriArgs(argv: readonly string[]): NriArgs {
  const own: Record<string, string> = {};
  const always: Record<string, string> = { ...ALWAYS };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!(flag in NRI_FLAGS) && !(flag in ALWAYS)) {
      rest.push(arg);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === "") throw new ArmorError("E_USAGE", `${flag} needs a value`);
    if (flag in ALWAYS) always[flag] = value;
    else own[flag] = value;
  }
  const get = (flag: keyof typeof NRI_FLAGS): string => own[flag] ?? NRI_FLAGS[flag].default;
  const logLevel = get("--log-level");
  if (!LEVELS.includes(logLevel as Level)) throw new ArmorError("E_USAGE", `--log-level must be one of ${LEVELS.join(", ")}, got "${logLevel}"`);
  if (!get("--nri-socket").startsWith("/") || !get("--hook-path").startsWith("/"))
    throw new ArmorError("E_USAGE", "--nri-socket and --hook-path must be absolute paths");
  return {
    nriSocket: get("--nri-socket"),
    pluginIndex: parsePluginIndex(get("--plugin-index")),
    hookPath: get("--hook-path"),
    logLevel: logLevel as Level,
    hookArgv: ["--socket", always["--socket"] as string, "--timeout-ms", always["--timeout-ms"] as string, ...rest],
  };
}
