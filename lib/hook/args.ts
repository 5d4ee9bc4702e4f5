/**
 * armor-hook's command line, parsed by hand: a CLI framework on the hook's hot
 * path would cost every container start more than this whole file.
 */
import { ArmorError } from "../errors.ts";

/** Default socket of the agent (also in lib/agent/socket-path.ts, which the hook must not import). */
export const DEFAULT_SOCKET = "/run/armor/armor.sock";
/** Default deadline for the whole agent conversation; runtimes' hook timeouts are seconds. */
export const DEFAULT_TIMEOUT_MS = 2000;

/** The hook's options after validation. */
export interface HookArgs {
  socket: string;
  timeoutMs: number;
  stage: string | undefined;
  help: boolean;
  version: boolean;
}

export const HOOK_USAGE = `usage: armor-hook [createRuntime|poststop] [--socket PATH] [--timeout-ms N]

Executed by an OCI runtime with the container's state on stdin. At createRuntime it
registers the container with armor-agent and returns once the agent holds it; at
poststop it unregisters it. Without a stage argument, the state's status decides.

  --socket PATH      agent socket (default ${DEFAULT_SOCKET})
  --timeout-ms N     give up on the agent after N ms, 1..60000 (default ${DEFAULT_TIMEOUT_MS});
                     the container then starts unmonitored (fail-open) with a warning
  --help, --version

exit status: 0 registered/unregistered (or agent unreachable, fail-open), 2 bad usage or
unknown stage, 3 bad state on stdin, 4 bad bundle config.json, 5 container process gone,
6 agent refused the request or broke the protocol, 1 internal error`;

/** Parses argv (without the executable); throws E_USAGE naming the bad flag. */
export function parseHookArgs(argv: readonly string[]): HookArgs {
  const args: HookArgs = { socket: DEFAULT_SOCKET, timeoutMs: DEFAULT_TIMEOUT_MS, stage: undefined, help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined || next === "") throw new ArmorError("E_USAGE", `${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "--socket":
        args.socket = value();
        break;
      case "--timeout-ms": {
        const raw = value();
        const ms = Number(raw);
        if (!/^\d+$/.test(raw) || ms < 1 || ms > 60_000) throw new ArmorError("E_USAGE", `--timeout-ms must be a whole number from 1 to 60000, got "${raw}"`);
        args.timeoutMs = ms;
        break;
      }
      case "--help":
      case "-h":
        args.help = true;
        break;
      case "--version":
        args.version = true;
        break;
      default:
        if (flag.startsWith("-")) throw new ArmorError("E_USAGE", `unknown flag ${flag}`);
        if (args.stage !== undefined) throw new ArmorError("E_USAGE", `unexpected argument "${arg}" after stage "${args.stage}"`);
        args.stage = arg;
    }
  }
  return args;
}
