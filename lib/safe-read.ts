/**
 * Reading a file that someone else may have put there — beside the socket (spool, hook log),
 * under a runtime's state root (state.json), in a bundle (config.json). A FIFO at such a path
 * blocks a plain open or read forever, a link to /dev/zero never ends, a directory is no file.
 * So every such file is opened without following a final symbolic link (ELOOP) and without
 * blocking, fstat must say it is a regular file (ENOTREG), and it is read with a bound (EFBIG).
 * Each failure is an error with that `code`, naming the path: the caller skips or removes that
 * one entry, with a warning, and goes on.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";

/** O_NONBLOCK: opening a FIFO returns at once (then refused by fstat); reads of a regular file never block on it. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A path that is there but is not something to read: its `code` says why, `reason` in words. */
export class UnsafeFileError extends Error {
  readonly code: "ENOTREG" | "EFBIG" | "ELOOP";
  readonly reason: string;
  constructor(code: "ENOTREG" | "EFBIG" | "ELOOP", path: string, reason: string) {
    super(`${path} is ${reason}`);
    this.code = code;
    this.reason = reason;
    this.name = "UnsafeFileError";
  }
}

/** What a failed read means, for a warning: the UnsafeFileError's words, else the errno. */
export function readFailure(err: unknown): string {
  if (err instanceof UnsafeFileError) return err.message;
  const code = typeof err === "object" && err !== null && "code" in err ? (err as { code: unknown }).code : undefined;
  return typeof code === "string" ? code : String(err);
}

function kindOf(stat: Stats): string {
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isDirectory()) return "a directory";
  if (stat.isSocket()) return "a socket";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device";
  return "not a regular file";
}

/**
 * Opens `path` to read it: never through a final symbolic link (ELOOP), never blocking, only
 * a regular file (ENOTREG). The caller closes the descriptor.
 */
export function openRegular(path: string): { fd: number; stat: Stats } {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    const code = typeof err === "object" && err !== null && "code" in err ? (err as { code: unknown }).code : undefined;
    if (code === "ELOOP") throw new UnsafeFileError("ELOOP", path, "a symbolic link (never followed here)");
    throw err;
  }
  let stat: Stats;
  try {
    stat = fstatSync(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (!stat.isFile()) {
    closeSync(fd);
    throw new UnsafeFileError("ENOTREG", path, `${kindOf(stat)}, not a regular file`);
  }
  return { fd, stat };
}

/** The bytes of the regular file at `path`, at most `maxBytes` of them (EFBIG beyond); see openRegular(). */
export function readRegular(path: string, maxBytes: number): Uint8Array {
  const { fd, stat } = openRegular(path);
  try {
    // /proc files say size 0: the buffer grows as they are read.
    let buffer = new Uint8Array(Math.min(Math.max(stat.size, 4096), maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > maxBytes) throw new UnsafeFileError("EFBIG", path, `larger than ${maxBytes} bytes`);
        const bigger = new Uint8Array(Math.min(buffer.length * 2, maxBytes + 1));
        bigger.set(buffer);
        buffer = bigger;
      }
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > maxBytes) throw new UnsafeFileError("EFBIG", path, `larger than ${maxBytes} bytes`);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/** readRegular() as UTF-8 text. */
export function readRegularText(path: string, maxBytes: number): string {
  return new TextDecoder().decode(readRegular(path, maxBytes));
}

/** A ReadText (lib/oci/bundle.ts) for files under state roots and in bundles, bounded by `maxBytes`. */
export function safeReadText(maxBytes: number): (path: string) => Promise<string> {
  return async (path) => readRegularText(path, maxBytes);
}
