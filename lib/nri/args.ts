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

/**
 * armor-hook's options, as the nri command's table lists them (value flags, then the
 * one without): tests/unit/nri-args.test.ts fails when armor-hook's usage and this drift.
 */
export const HOOK_ENTRY_FLAGS = {
  value: [
    "--socket",
    "--timeout-ms",
    "--agent-name",
    "--state-root",
    "--bootstrap-deadline-ms",
    "--bootstrap-log",
    "--bootstrap-settle-ms",
    "--fail-policy",
    "--fail-allow-namespaces",
    "--agent-namespace",
    "--spool-dir",
    "--log-file",
    "--log-max-bytes",
    "--log-keep",
  ],
  boolean: ["--no-log-file"],
} as const;

/** The nri command's args table (citty's shape) for usage and the strict flag check: its own flags and the hook's. */
export function nriArgsTable(): Record<string, { type: "string" | "boolean"; description: string; valueHint?: string }> {
  const table: Record<string, { type: "string" | "boolean"; description: string; valueHint?: string }> = {};
  for (const [flag, def] of Object.entries(NRI_FLAGS))
    table[flag.slice(2)] = { type: "string", description: `${def.help} (default ${def.default})`, valueHint: "VALUE" };
  for (const flag of HOOK_ENTRY_FLAGS.value)
    table[flag.slice(2)] ??= { type: "string", description: "armor-hook's option, passed into the injected hook entry (armor-hook --help)" };
  for (const flag of HOOK_ENTRY_FLAGS.boolean)
    table[flag.slice(2)] = { type: "boolean", description: "armor-hook's option, passed into the injected hook entry" };
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
