/**
 * A log file of bounded size that many processes append to at once: every hook
 * run is a process of its own. A line is one write(2) on an O_APPEND descriptor,
 * so concurrent lines never interleave; once the file reaches its limit, the
 * writer that notices moves it to `<path>.1` (shifting `.1` to `.2`… and dropping
 * the oldest), under a lock file so that two writers never rotate the same file twice.
 * Bounded: (keep + 1) files of at most maxBytes plus the lines in flight while one rotates.
 * Loaded only where node:fs is already paid for, or off the hook's healthy path.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { errnoOf } from "./errors.ts";

export interface RotatingLogOptions {
  path: string;
  /** Rotate once the file holds this many bytes. */
  maxBytes: number;
  /** How many rotated files to keep (`.1` newest … `.keep` oldest). */
  keep: number;
}

/** Where the line went: the file (and whether this writer rotated it), or nowhere and why. */
export type AppendResult = { written: string; rotated: boolean } | { failed: string };

/** A lock older than this was left by a writer that died mid-rotation (kill -9) and is broken. */
export const STALE_LOCK_MS = 10_000;

// O_NONBLOCK: a FIFO planted at the path must not block the hook (open fails with ENXIO instead).
// O_NOFOLLOW: the log is never written through a symlink. (Bun opens with O_CLOEXEC itself.)
const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const LOCK_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

const encoder = new TextEncoder();

/** Appends `line` (newline added) to the log, rotating it when full. Never throws. */
export function appendLogLine(options: RotatingLogOptions, line: string, now: () => number = Date.now): AppendResult {
  const bytes = encoder.encode(line.endsWith("\n") ? line : `${line}\n`);
  let fd: number;
  try {
    fd = openLog(options.path);
  } catch (err) {
    return { failed: `cannot open ${options.path}: ${describe(err)}` };
  }
  let size: number;
  let inode: number;
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { failed: `${options.path} is not a regular file` };
    // One write: O_APPEND makes it land whole at the end, whoever else is writing.
    writeSync(fd, bytes);
    size = fstatSync(fd).size;
    inode = stat.ino;
  } catch (err) {
    return { failed: `cannot write ${options.path}: ${describe(err)}` };
  } finally {
    closeSync(fd);
  }
  const rotated = size >= options.maxBytes ? rotate(options, inode, now) : false;
  return { written: options.path, rotated };
}

function openLog(path: string): number {
  try {
    return openSync(path, APPEND_FLAGS, 0o640);
  } catch (err) {
    if (errnoOf(err) !== "ENOENT") throw err;
    // First line on this node: the directory may not exist yet (no agent has run here).
    const slash = path.lastIndexOf("/");
    if (slash > 0) mkdirSync(path.slice(0, slash), { recursive: true, mode: 0o700 });
    return openSync(path, APPEND_FLAGS, 0o640);
  }
}

/** Moves the full file aside; false when another writer holds the lock or already did it. */
function rotate(options: RotatingLogOptions, inode: number, now: () => number): boolean {
  const lock = `${options.path}.lock`;
  let lockFd: number;
  try {
    lockFd = openSync(lock, LOCK_FLAGS, 0o600);
  } catch (err) {
    if (errnoOf(err) === "EEXIST") breakStaleLock(lock, now);
    return false;
  }
  closeSync(lockFd);
  try {
    // The file this writer saw full may already have been moved by a writer before it.
    if (lstatSync(options.path).ino !== inode) return false;
    for (let i = options.keep - 1; i >= 1; i--) renameIfExists(`${options.path}.${i}`, `${options.path}.${i + 1}`);
    renameSync(options.path, `${options.path}.1`);
    return true;
  } catch {
    return false;
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // Gone already: a writer judged it stale. Nothing else holds it.
    }
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if (errnoOf(err) !== "ENOENT") throw err;
  }
}

/** Removes a lock whose writer died: the next full write rotates. */
function breakStaleLock(lock: string, now: () => number): void {
  try {
    if (now() - lstatSync(lock).mtimeMs > STALE_LOCK_MS) unlinkSync(lock);
  } catch {
    // Removed meanwhile by its owner or another writer.
  }
}

function describe(err: unknown): string {
  return errnoOf(err) ?? (err instanceof Error ? err.message : String(err));
}
