/**
 * The fast path's I/O (lib/hook/fast.ts): synchronous system calls (lib/syscall.ts), each
 * bounded by the deadline it is given (milliseconds on performance.now()'s clock): poll()
 * before every read of a pipe or socket, SO_SNDTIMEO/SO_RCVTIMEO on the socket, one connect.
 * No event loop, no thread pool. Regular files (config.json, /proc) are read directly: poll()
 * cannot bound those, and they are local to the runtime.
 */
import { ArmorError } from "../errors.ts";
import * as sys from "../syscall.ts";
import { FrameDecoder } from "../wire/frame.ts";

/** What the fast path reads and writes, passed in (tests pass fakes). */
export interface SyncIo {
  /** Milliseconds since the process started (performance.now()). */
  now: () => number;
  /**
   * Reads stdin to its end, at most `maxBytes + 1` bytes (one more tells it is too large),
   * until `until`. `ended` is false when the time ran out first.
   */
  readStdin: (maxBytes: number, until: number) => { text: string; ended: boolean };
  /** Reads a regular file as UTF-8, at most `maxBytes + 1` bytes; throws errno errors (code ENOENT…). */
  readFile: (path: string, maxBytes: number) => string;
  /** A namespace link's target ("pid:[4026531836]") through stat(2); throws errno errors. */
  readLink: (path: string) => string;
  /** stat(2)'s inode of a path, following links (the cgroup id is its directory's); throws errno errors. */
  statIno: (path: string) => number;
  /**
   * Connects to `socket`, sends `frame`, returns the first frame of the answer (at most
   * `maxFrameBytes`), all by `until`; throws E_AGENT_UNREACHABLE, E_AGENT_TIMEOUT or E_FRAME_TOO_LARGE.
   * `whileWaiting` runs once the request is sent, before the answer is waited for.
   */
  ask: (socket: string, frame: Uint8Array, until: number, maxFrameBytes: number, whileWaiting?: () => void) => Uint8Array;
}

const decoder = new TextDecoder();
const STDIN = 0;
/**
 * First buffer of a read, grown as needed: the OCI state, /proc files and the agent's answer
 * fit in it. A typed array is zeroed when made, page by page: three of 64 KiB cost ~50 page faults.
 */
const FIRST_READ_BYTES = 4096;

/** The real thing. */
export const syncIo: SyncIo = {
  now: () => performance.now(),
  readStdin: (maxBytes, until) => readToEnd(STDIN, maxBytes, until),
  readFile: (path, maxBytes) => {
    const fd = sys.openRead(path);
    try {
      return readToEnd(fd, maxBytes).text;
    } finally {
      sys.close(fd);
    }
  },
  readLink: (path) => `${path.slice(path.lastIndexOf("/") + 1)}:[${sys.stat(path).ino}]`,
  statIno: (path) => sys.stat(path).ino,
  ask: (socket, frame, until, maxFrameBytes, whileWaiting) => {
    let fd: number;
    try {
      fd = sys.connectUnix(socket, until - performance.now());
    } catch (err) {
      throw unreachable(socket, err);
    }
    try {
      try {
        sys.writeAll(fd, frame);
      } catch (err) {
        throw unreachable(socket, err);
      }
      whileWaiting?.();
      const frames = new FrameDecoder(maxFrameBytes);
      const chunk = new Uint8Array(FIRST_READ_BYTES);
      for (;;) {
        const left = until - performance.now();
        if (left <= 0 || !sys.waitReadable(fd, left)) throw new ArmorError("E_AGENT_TIMEOUT", `agent at ${socket} did not answer in time`);
        let n: number;
        try {
          n = sys.readInto(fd, chunk);
        } catch (err) {
          throw unreachable(socket, err);
        }
        if (n === 0) throw new ArmorError("E_AGENT_UNREACHABLE", "agent closed the connection before answering");
        const [answer] = frames.push(chunk.subarray(0, n));
        if (answer) return answer;
      }
    } finally {
      sys.close(fd);
    }
  },
};

/**
 * Reads `fd` to its end, at most `maxBytes + 1` bytes (one more tells it is too large), in a
 * buffer grown as needed. With `until`, every read waits for data (poll) at most until then:
 * `ended` is false when the time ran out first. Without, it reads a regular file straight on.
 */
function readToEnd(fd: number, maxBytes: number, until?: number): { text: string; ended: boolean } {
  let buffer = new Uint8Array(Math.min(FIRST_READ_BYTES, maxBytes + 1));
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length > maxBytes) return { text: decoder.decode(buffer), ended: true };
      const larger = new Uint8Array(Math.min(buffer.length * 4, maxBytes + 1));
      larger.set(buffer);
      buffer = larger;
    }
    if (until !== undefined) {
      const left = until - performance.now();
      if (left <= 0 || !sys.waitReadable(fd, left)) return { text: decoder.decode(buffer.subarray(0, length)), ended: false };
    }
    const n = sys.readInto(fd, buffer, length);
    if (n === 0) return { text: decoder.decode(buffer.subarray(0, length)), ended: true };
    length += n;
  }
}

function unreachable(socket: string, err: unknown): ArmorError {
  const code = err instanceof sys.SyscallError ? err.code : String(err);
  // A full backlog makes connect wait out SO_SNDTIMEO, then EAGAIN: the agent did not take the call in time.
  if (code === "EAGAIN") return new ArmorError("E_AGENT_TIMEOUT", `no connection to agent at ${socket} in time`, { cause: err });
  return new ArmorError("E_AGENT_UNREACHABLE", `cannot reach agent at ${socket}: ${code}`, { cause: err });
}
