/**
 * The agent's exclusivity: one agent per socket, decided by flock(2) on `agent.lock`
 * beside it (lib/layout.ts), taken before the agent reads or removes anything there
 * (spool, stale socket) and held for its whole life. The kernel
 * drops the lock when the agent dies, however it dies, so a stale lock never exists.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { ArmorError, errnoOf } from "../errors.ts";
import { tryLockExclusive } from "../syscall.ts";

/** A held lock; `release()` lets the next agent in (stop). */
export interface AgentLock {
  path: string;
  release: () => void;
}

/** Largest lock file read back, for the holder's pid. */
const MAX_LOCK_BYTES = 64;

/**
 * Takes the lock at `path` or throws E_SOCKET naming the agent that holds it (its
 * pid, as it wrote it into the file). The file is never followed through a symlink,
 * never a FIFO, 0600, and left in place on release (removing it would let two
 * agents lock two different files).
 */
export function takeAgentLock(path: string, pid: number = process.pid): AgentLock {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (err) {
    throw new ArmorError("E_SOCKET", `cannot open the agent lock ${path}: ${errnoOf(err) ?? String(err)}`, { cause: err });
  }
  try {
    if (!fstatSync(fd).isFile()) throw new ArmorError("E_SOCKET", `the agent lock ${path} is not a regular file; refusing to start`);
    if (!tryLockExclusive(fd)) {
      const holder = readHolder(fd);
      throw new ArmorError("E_SOCKET", `another agent (${holder === null ? "pid unknown" : `pid ${holder}`}) holds ${path}; not starting a second one`);
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `${pid}\n`, 0);
  } catch (err) {
    closeSync(fd);
    if (err instanceof ArmorError) throw err;
    throw new ArmorError("E_SOCKET", `cannot take the agent lock ${path}: ${errnoOf(err) ?? String(err)}`, { cause: err });
  }
  let held = true;
  return {
    path,
    release: () => {
      if (!held) return;
      held = false;
      closeSync(fd);
    },
  };
}

function readHolder(fd: number): number | null {
  const buffer = Buffer.alloc(MAX_LOCK_BYTES);
  const n = readSync(fd, buffer, 0, MAX_LOCK_BYTES, 0);
  const match = /^(\d{1,10})\n/.exec(buffer.subarray(0, n).toString("latin1"));
  return match ? Number(match[1]) : null;
}
