/**
 * Linux system calls through one bun:ffi symbol, libc's `syscall(2)`, plus `__errno_location`
 * for its errno. The hook's healthy path is synchronous on purpose: Bun's first asynchronous
 * read starts the event loop and a thread pool (~1.4 ms of a ~5 ms run), and node:fs costs
 * more to load than the whole path. The agent maps and locks the hook's pages with it.
 *
 * A typed array's memory can move (the garbage collector compacts, a buffer grows), so every
 * pointer is taken with `ptr()` in the call that uses it, never kept.
 */
import { dlopen, FFIType, ptr, read as readPointer } from "bun:ffi";

const arg = FFIType.i64_fast;
// Both symbols now: linking __errno_location only at a failure could itself change errno.
const libc = dlopen("libc.so.6", {
  syscall: { args: [arg, arg, arg, arg, arg, arg, arg], returns: FFIType.i64_fast },
  __errno_location: { args: [], returns: FFIType.ptr },
});
const raw = libc.symbols.syscall as (nr: number, a: number, b: number, c: number, d: number, e: number, f: number) => number | bigint;
const errnoLocation = libc.symbols.__errno_location as () => number;

/** The calls we make, by architecture (x86_64's table, and the generic one arm64 uses). */
const NUMBERS = {
  x64: {
    read: 0,
    write: 1,
    close: 3,
    mmap: 9,
    munmap: 11,
    mincore: 27,
    socket: 41,
    connect: 42,
    setsockopt: 54,
    mlock: 149,
    munlock: 150,
    openat: 257,
    newfstatat: 262,
    ppoll: 271,
    flock: 73,
    prlimit64: 302,
    pread64: 17,
    fadvise64: 221,
  },
  arm64: {
    read: 63,
    write: 64,
    close: 57,
    mmap: 222,
    munmap: 215,
    mincore: 232,
    socket: 198,
    connect: 203,
    setsockopt: 208,
    mlock: 228,
    munlock: 229,
    openat: 56,
    newfstatat: 79,
    ppoll: 73,
    flock: 32,
    prlimit64: 261,
    pread64: 67,
    fadvise64: 223,
  },
} as const;
const NR = process.arch === "arm64" ? NUMBERS.arm64 : NUMBERS.x64;

/** errno names (the same numbers on x86_64 and arm64), so errnoOf() reads these errors like node's. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  17: "EEXIST",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  24: "EMFILE",
  28: "ENOSPC",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  40: "ELOOP",
  88: "ENOTSOCK",
  104: "ECONNRESET",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
};

/** A failed system call: `code` is the errno's name ("ENOENT"), as in node's errors. */
export class SyscallError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(call: string, errno: number, subject?: string) {
    const code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${call}${subject === undefined ? "" : ` ${subject}`}: ${code}`);
    this.name = "SyscallError";
    this.code = code;
    this.errno = errno;
  }
}

/** Calls `name`; returns its non-negative result or throws its errno. EINTR is retried. */
function call(name: keyof typeof NR, subject: string | undefined, a = 0, b = 0, c = 0, d = 0, e = 0, f = 0): number {
  for (;;) {
    const result = Number(raw(NR[name], a, b, c, d, e, f));
    if (result >= 0) return result;
    // Read at once: nothing between the call and here calls into libc on this thread.
    const code = readPointer.i32(errnoLocation(), 0);
    if (code !== 4) throw new SyscallError(name, code, subject);
  }
}

const encoder = new TextEncoder();
/** A NUL-terminated path; a NUL inside would silently name another file. */
function cString(path: string): Uint8Array {
  if (path.includes("\0")) throw new SyscallError("path", 22, JSON.stringify(path));
  return encoder.encode(`${path}\0`);
}

const AT_FDCWD = -100;
export const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const O_NOCTTY = 0o400;

/** Opens `path` read-only (close-on-exec, never a controlling terminal); returns the descriptor. */
export function openRead(path: string, flags = 0): number {
  return call("openat", path, AT_FDCWD, ptr(cString(path)), O_RDONLY | O_CLOEXEC | O_NOCTTY | flags);
}

const O_PATH = 0o10000000;

/**
 * A descriptor that only names `path` (O_PATH, never following a last symlink): holding it keeps
 * the kernel's dentry for that name, so looking the name up again needs no disk.
 */
export function holdName(path: string): number {
  return call("openat", path, AT_FDCWD, ptr(cString(path)), O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

/** Reads into `buffer` at `offset`; returns the bytes read (0 at the end). */
export function readInto(fd: number, buffer: Uint8Array, offset = 0): number {
  if (offset >= buffer.length) return 0;
  return call("read", undefined, fd, ptr(buffer, offset), buffer.length - offset);
}

/** Reads into `buffer` from byte `position` of the file, not moving its offset; returns the bytes read. */
export function readAt(fd: number, buffer: Uint8Array, position: number): number {
  return call("pread64", undefined, fd, ptr(buffer), buffer.length, position);
}

const POSIX_FADV_DONTNEED = 4;
/** Drops the file's cached pages that no process maps or locks (posix_fadvise DONTNEED): the next read fills them anew. */
export function dropCachedPages(fd: number): void {
  call("fadvise64", undefined, fd, 0, 0, POSIX_FADV_DONTNEED);
}

/** Writes all of `bytes` (a short write goes on from where it stopped). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) done += call("write", undefined, fd, ptr(bytes, done), bytes.length - done);
}

export function close(fd: number): void {
  try {
    call("close", undefined, fd);
  } catch {
    // Linux frees the descriptor even when close reports an error: nothing to retry.
  }
}

const POLLIN = 1;
/**
 * Waits until `fd` is readable (data, end of file, or an error to read) for at most `ms`;
 * false when the time ran out.
 */
export function waitReadable(fd: number, ms: number): boolean {
  const pollfd = new Int32Array([fd, POLLIN]);
  const wait = Math.max(0, Math.floor(ms));
  const timespec = new BigInt64Array([BigInt(Math.floor(wait / 1000)), BigInt((wait % 1000) * 1_000_000)]);
  return call("ppoll", undefined, ptr(pollfd), 1, ptr(timespec), 0, 8) > 0;
}

/** What stat(2) tells: the inode (a namespace link's is the namespace's), the size and the mode. */
export interface StatResult {
  ino: number;
  size: number;
  mode: number;
}

/** stat(2), following symlinks. The kernel's `struct stat`: st_ino at byte 8 and st_size at 48 on both architectures. */
export function stat(path: string): StatResult {
  const buffer = new BigUint64Array(18);
  call("newfstatat", path, AT_FDCWD, ptr(cString(path)), ptr(buffer), 0);
  const words = new Uint32Array(buffer.buffer);
  // x86_64: dev, ino, nlink (8 bytes), mode at 24; generic (arm64): dev, ino, mode at 16.
  const mode = process.arch === "arm64" ? (words[4] ?? 0) : (words[6] ?? 0);
  return { ino: Number(buffer[1]), size: Number(buffer[6]), mode };
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SO_SNDTIMEO = 21;
/** sun_path's size in `struct sockaddr_un`. */
export const MAX_UNIX_PATH = 107;

/**
 * A UNIX stream socket connected to `path`, whose connect, sends and receives each give up
 * after `ms` (SO_SNDTIMEO bounds connect too): one bound per call, set before connecting.
 */
export function connectUnix(path: string, ms: number): number {
  const name = encoder.encode(path);
  if (name.length > MAX_UNIX_PATH || name.includes(0)) throw new SyscallError("connect", 36, path);
  const fd = call("socket", path, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  try {
    const wait = Math.max(1, Math.floor(ms));
    const timeval = new BigInt64Array([BigInt(Math.floor(wait / 1000)), BigInt((wait % 1000) * 1000)]);
    call("setsockopt", path, fd, SOL_SOCKET, SO_SNDTIMEO, ptr(timeval), 16);
    call("setsockopt", path, fd, SOL_SOCKET, SO_RCVTIMEO, ptr(timeval), 16);
    const address = new Uint8Array(2 + MAX_UNIX_PATH + 1);
    address[0] = AF_UNIX;
    address.set(name, 2);
    call("connect", path, fd, ptr(address), 2 + name.length + 1);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

const PROT_READ = 1;
const MAP_SHARED = 1;

/** Maps `length` bytes of `fd` read-only and shared (the page cache's own pages); returns the address. */
export function mapFile(fd: number, length: number): number {
  return call("mmap", undefined, 0, length, PROT_READ, MAP_SHARED, fd, 0);
}

export function unmap(address: number, length: number): void {
  call("munmap", undefined, address, length);
}

/** Locks `length` bytes at `address` into memory (faulting them in): they stay resident. */
export function lock(address: number, length: number): void {
  call("mlock", undefined, address, length);
}

export function unlock(address: number, length: number): void {
  call("munlock", undefined, address, length);
}

/** Which pages of a mapping are resident: one byte per page, bit 0 set when it is. */
export function residentPages(address: number, length: number, pageSize: number): Uint8Array {
  const vector = new Uint8Array(Math.ceil(length / pageSize));
  call("mincore", undefined, address, length, ptr(vector));
  return vector;
}

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

/** Takes flock(2)'s exclusive lock on `fd` without waiting: false when another open file holds it. */
export function tryLockExclusive(fd: number): boolean {
  try {
    call("flock", undefined, fd, LOCK_EX | LOCK_NB);
    return true;
  } catch (err) {
    if (err instanceof SyscallError && err.errno === EWOULDBLOCK) return false;
    throw err;
  }
}

const O_NONBLOCK = 0o4000;
const O_NOFOLLOW = 0o400000;

/**
 * Whether another process holds flock(2)'s lock on the file at `path` now. A missing,
 * unopenable or odd file (a symlink, a FIFO: never followed, never waited on) is not held.
 */
export function lockHeld(path: string): boolean {
  let fd: number;
  try {
    fd = openRead(path, O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    // Taken and dropped at once (close releases it): only a lock someone else holds answers true.
    return !tryLockExclusive(fd);
  } catch {
    return false;
  } finally {
    close(fd);
  }
}

const RLIMIT_NOFILE = 7;

/** The soft and hard limits on open descriptors (RLIMIT_NOFILE) of this process. */
export function fileLimit(): { soft: number; hard: number } {
  const limits = new BigUint64Array(2);
  call("prlimit64", undefined, 0, RLIMIT_NOFILE, 0, ptr(limits));
  return { soft: Number(limits[0]), hard: Number(limits[1]) };
}

/** Sets the soft limit on open descriptors, keeping the hard one. */
export function setFileLimit(soft: number, hard: number): void {
  const limits = new BigUint64Array([BigInt(soft), BigInt(hard)]);
  call("prlimit64", undefined, 0, RLIMIT_NOFILE, ptr(limits), 0);
}
