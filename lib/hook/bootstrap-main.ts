/**
 * Entry of `armor-hook bootstrap`, loaded only on that path: it logs to a file
 * (it has no stdio: runc waits for a hook's pipes to close) and exits 0 once the
 * batch is sent, 7 when the agent never answered. One fork runs per socket at a time:
 * it holds `bootstrap.lock` beside the socket (flock(2), dropped by the kernel however the
 * fork ends), and a fork that finds it held exits 0 at once.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { ContainerInfoSchema } from "../container.ts";
import { toArmorError } from "../errors.ts";
import { layout } from "../layout.ts";
import { tryLockExclusive } from "../syscall.ts";
import { parseJson, parseWith } from "../validate.ts";
import { parseHookArgs } from "./args.ts";
import { EXIT_STATUS } from "./exit-status.ts";
import { jsonLogger } from "../log.ts";
import { appendLogLine, type RotatingLogOptions } from "../rotating-log.ts";
import { readHostText } from "../bootstrap/enumerate.ts";
import { runBootstrap } from "../bootstrap/run.ts";

/** Runs the bootstrap with real I/O; returns the exit status. */
export async function bootstrapMain(argv: readonly string[]): Promise<number> {
  let logFile: RotatingLogOptions | undefined;
  const write = (line: string): void => {
    if (logFile === undefined) return void process.stderr.write(line);
    // A failure has nowhere left to go; the agent's own deadline covers a silent bootstrap.
    appendLogLine(logFile, line);
  };
  const log = jsonLogger("info", write);
  try {
    const args = parseHookArgs(argv);
    // Bounded like the hook's own log: an agent that restarts in a loop bootstraps in a loop.
    logFile = { path: args.bootstrapLog, maxBytes: args.logMaxBytes, keep: args.logKeep };
    const lock = layout(args.socket).bootstrapLock;
    if (!takeLock(lock)) {
      log("info", "another bootstrap runs for this socket; exiting", { lock });
      return 0;
    }
    const agentContainer =
      args.agentContainer === ""
        ? undefined
        : parseWith(ContainerInfoSchema, parseJson(args.agentContainer, "--agent-container", "E_USAGE"), "--agent-container", "E_USAGE");
    const count = await runBootstrap(
      {
        socket: args.socket,
        roots: args.stateRoots,
        deadlineMs: args.bootstrapDeadlineMs,
        settleMs: args.bootstrapSettleMs,
        timeoutMs: Math.max(args.timeoutMs, 10_000),
        ...(agentContainer ? { agentContainer } : {}),
      },
      {
        readDir: (path) => readdirSync(path),
        readText: readHostText,
        readLink: (path) => readlinkSync(path),
        statIno: (path) => statSync(path).ino,
        log,
      },
    );
    log("info", "bootstrap done", { containers: count });
    return 0;
  } catch (err) {
    const error = toArmorError(err);
    log("error", "bootstrap failed", { code: error.code, error: error.message });
    return EXIT_STATUS[error.code];
  }
}

/**
 * Takes `path`'s lock for the rest of the process's life; false when another process holds it.
 * Never through a symlink, never a FIFO; a lock that cannot be taken for another reason
 * is not a reason to skip the bootstrap (the agent would then wait for a batch that never comes).
 */
function takeLock(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch {
    return true;
  }
  try {
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      return true;
    }
    // Held until the process exits: the descriptor is never closed.
    return tryLockExclusive(fd);
  } catch {
    return true;
  }
}
