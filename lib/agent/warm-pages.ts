/**
 * Keeps the hook binary's pages resident, so the first container after the page cache was
 * dropped (or after memory pressure evicted it) does not wait for the disk: a cold hook run
 * reads its ~100 MB binary through readahead, ~100 ms, where a warm one takes ~5 ms.
 *
 * Which pages: the ones a run touches, learnt from a run. The agent starts the hook binary
 * once on a private socket, with a throwaway bundle; while the hook waits for its answer it
 * has done nearly all it ever does, and /proc/<pid>/pagemap shows which of the binary's pages
 * it has mapped. Those ranges are locked (mlock) in the agent's own shared, read-only mapping
 * of the file, so they are the page cache's pages the hook maps, and nothing evicts them.
 * When the binary changes (an install writes a new one), the agent learns and locks again.
 */
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import type { Logger } from "../log.ts";
import { Registry } from "../registry.ts";
import * as sys from "../syscall.ts";
import { encodeFrame, FrameDecoder } from "../wire/frame.ts";
import { RequestSchema } from "../wire/messages.ts";
import { dispatch } from "./dispatch.ts";

/** Where install.sh puts the hook (its --prefix default). */
export const DEFAULT_HOOK_BINARY = "/usr/local/lib/armor-hooks/armor-hook";
/**
 * At most this much is locked: a bound on what the agent pins. A run touches ~26 MB of the
 * binary; locked in whole 2 MiB folios (refill()), that is ~65 MB.
 */
export const MAX_WARM_BYTES = 96 * 1024 * 1024;
/** How often the binary is checked for a change. */
export const WARM_CHECK_MS = 10_000;
/** The learning run's own bound. */
const PROBE_TIMEOUT_MS = 5_000;
const PAGE = 4096;

/** A byte range of a file: [offset, offset + length). */
export interface Range {
  offset: number;
  length: number;
}

export interface WarmPagesOptions {
  /** The hook binary whose pages are kept. */
  binary: string;
  log: Logger;
  maxBytes?: number;
  checkEveryMs?: number;
  /** Learns the pages a run of `binary` touches (default: runs on a private socket, probeTouchedFiles). */
  probe?: (binary: string) => Promise<TouchedFile[]>;
}

/** One file mapped shared and read-only, with the ranges locked in it. */
interface LockedFile {
  path: string;
  fd: number;
  address: number;
  size: number;
  locked: Range[];
}

/** What is held for one version of the binary. */
interface Held {
  identity: string;
  files: LockedFile[];
  bytes: number;
  /** Descriptors holding the names a run looks up through symlinks (holdLookups()). */
  names: number[];
}

/** The agent component: start() learns and locks, stop() lets go; lockedBytes counts what it pins. */
export class WarmPages {
  readonly #options: WarmPagesOptions;
  #held: Held | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy: Promise<void> | undefined;
  #stopped = false;
  #lastProblem = "";

  constructor(options: WarmPagesOptions) {
    this.#options = options;
  }

  /** Bytes held in memory now (for the agent's memory budget and `status`). */
  get lockedBytes(): number {
    return this.#held?.bytes ?? 0;
  }

  /** How many names of the run's lookups are held (symlinks on the loader's and libraries' paths). */
  get heldNames(): number {
    return this.#held?.names.length ?? 0;
  }

  /** The files and ranges locked now. */
  get locked(): readonly { path: string; ranges: readonly Range[] }[] {
    return (this.#held?.files ?? []).map((file) => ({ path: file.path, ranges: file.locked }));
  }

  /** Learns and locks the binary's pages, then checks it for a change. Never throws: a problem is logged. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.#stopped) return;
    this.#timer = setInterval(() => void this.refresh(), this.#options.checkEveryMs ?? WARM_CHECK_MS);
    this.#timer.unref?.();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    release(this.#held);
    this.#held = undefined;
  }

  /** Learns and locks again if the binary changed since its pages were locked. */
  refresh(): Promise<void> {
    this.#busy ??= this.#refresh().finally(() => (this.#busy = undefined));
    return this.#busy;
  }

  async #refresh(): Promise<void> {
    const { binary, log } = this.#options;
    let identity: string;
    try {
      const st = statSync(binary);
      if (!st.isFile()) throw new Error("not a regular file");
      identity = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      // No hook installed at that path (an agent in a pod without the host's binary mounted): say so once.
      this.#problem(`hook binary ${binary}: ${errorText(err)}; its pages are not kept resident (--no-warm-hook: do not try)`, "info");
      release(this.#held);
      this.#held = undefined;
      return;
    }
    if (this.#held?.identity === identity) return;
    let next: Held;
    try {
      const touched = await (this.#options.probe ?? probeTouchedFiles)(binary);
      if (this.#stopped) return;
      next = lockFiles(identity, touched, this.#options.maxBytes ?? MAX_WARM_BYTES);
      next.names = holdLookups([interpreterOf(binary), ...touched.map((file) => file.path)]);
    } catch (err) {
      this.#problem(`cannot keep the pages of ${binary} resident: ${errorText(err)}`);
      return;
    }
    if (this.#stopped) return release(next);
    // The new version is locked before the old one is let go: no cold moment in between.
    release(this.#held);
    this.#held = next;
    this.#lastProblem = "";
    log("info", "hook binary's pages kept resident", { binary, lockedBytes: next.bytes, files: next.files.length, names: next.names.length });
  }

  #problem(message: string, level: "info" | "warn" = "warn"): void {
    // Once per problem, not at every check.
    if (message !== this.#lastProblem) this.#options.log(level, message);
    this.#lastProblem = message;
  }
}

function release(held: Held | undefined): void {
  for (const fd of held?.names ?? []) sys.close(fd);
  for (const file of held?.files ?? []) {
    try {
      sys.unmap(file.address, file.size);
    } finally {
      sys.close(file.fd);
    }
  }
}

/**
 * Fills the page cache with the whole of the file `fd`, in large reads: pages read this way sit
 * in large folios (up to 2 MiB), while pages that page faults brought in after an eviction sit
 * in 4 KiB pages, and a run from those takes ~1 ms longer (bench:hook: 1.26x for an empty Bun
 * binary; a cold run with the binary's pages locked 1.83x a warm one from 4 KiB pages, 1.23x
 * from large folios). What is cached and unmapped is dropped first, so it is read again this way.
 */
function refill(fd: number, size: number): void {
  sys.dropCachedPages(fd);
  const chunk = new Uint8Array(REFILL_CHUNK_BYTES);
  for (let at = 0; at < size;) {
    const n = sys.readAt(fd, chunk, at);
    if (n === 0) break;
    at += n;
  }
}
const REFILL_CHUNK_BYTES = 2 * 1024 * 1024;
/**
 * The binary's ranges are locked in whole aligned 2 MiB extents: a locked page keeps its whole
 * folio in memory, so this is what the lock pins, and what lockedBytes counts.
 */
const FOLIO_BYTES = 2 * 1024 * 1024;

/**
 * Maps each file shared and read-only and locks its touched ranges, the binary's first, at most
 * `maxBytes` in all; the binary's page cache is refilled first (refill()).
 */
function lockFiles(identity: string, touched: readonly TouchedFile[], maxBytes: number): Held {
  const held: Held = { identity, files: [], bytes: 0, names: [] };
  try {
    for (const [index, file] of touched.entries()) {
      if (held.bytes >= maxBytes) break;
      const fd = sys.openRead(file.path);
      const size = sys.stat(file.path).size;
      const binary = index === 0;
      if (binary) refill(fd, size);
      const mapped: LockedFile = { path: file.path, fd, address: 0, size, locked: [] };
      try {
        mapped.address = sys.mapFile(fd, size);
      } catch (err) {
        sys.close(fd);
        throw err;
      }
      held.files.push(mapped);
      for (const range of mergeRanges(file.ranges, size, binary ? FOLIO_BYTES : PAGE)) {
        const length = Math.min(range.length, maxBytes - held.bytes);
        if (length <= 0) break;
        sys.lock(mapped.address + range.offset, length);
        mapped.locked.push({ offset: range.offset, length });
        held.bytes += length;
      }
    }
    return held;
  } catch (err) {
    release(held);
    throw err;
  }
}

/**
 * Holds (sys.holdName) every symlink met while resolving `paths` and, on a merged /usr, the same
 * paths without their "/usr" (the loader names `/lib/x86_64-linux-gnu/libc.so.6` for the file
 * mapped as `/usr/lib/...`): after the dentry cache is dropped, each such name would be read from
 * disk again before the hook's first instruction. Returns the descriptors; a name that cannot be
 * held is skipped.
 */
function holdLookups(paths: readonly (string | undefined)[]): number[] {
  const held = new Map<string, number>();
  const hold = (path: string): void => {
    if (held.has(path)) return;
    try {
      held.set(path, sys.holdName(path));
    } catch {
      // Gone or unreadable: nothing to keep.
    }
  };
  const walk = (start: string): void => {
    let rest = start.split("/").filter((part) => part !== "");
    let at = "";
    for (let hops = 0; rest.length > 0 && hops < 40;) {
      const next = `${at}/${rest[0]}`;
      rest = rest.slice(1);
      let target: string;
      try {
        if (!lstatSync(next).isSymbolicLink()) {
          at = next;
          continue;
        }
        target = readlinkSync(next);
      } catch {
        return;
      }
      hold(next);
      hops++;
      const parts = target.split("/").filter((part) => part !== "");
      if (target.startsWith("/")) at = "";
      rest = [...parts, ...rest];
    }
  };
  for (const path of paths) {
    if (path === undefined) continue;
    walk(path);
    if (path.startsWith("/usr/")) walk(path.slice(4));
  }
  for (const path of READ_AT_START) walk(path);
  return [...held.values()];
}

/** The ELF interpreter (PT_INTERP) `binary` names: the dynamic loader exec opens first. */
export function interpreterOf(binary: string): string | undefined {
  try {
    const fd = openSync(binary, "r");
    try {
      const header = Buffer.alloc(64);
      readSync(fd, header, 0, 64, 0);
      if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return undefined;
      const phoff = Number(header.readBigUInt64LE(32));
      const phentsize = header.readUInt16LE(54);
      const phnum = header.readUInt16LE(56);
      const entry = Buffer.alloc(phentsize);
      for (let i = 0; i < Math.min(phnum, 64); i++) {
        readSync(fd, entry, 0, phentsize, phoff + i * phentsize);
        // PT_INTERP: p_offset at 8, p_filesz at 32; the path ends with a NUL.
        if (entry.readUInt32LE(0) !== 3) continue;
        const size = Math.min(Number(entry.readBigUInt64LE(32)), 4096);
        const path = Buffer.alloc(size);
        readSync(fd, path, 0, size, Number(entry.readBigUInt64LE(8)));
        return path.toString("utf8").replace(/\0.*$/s, "");
      }
      return undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** Sorted, merged ranges within a file of `size` bytes, aligned to `unit` (a page, or a large folio). */
export function mergeRanges(ranges: readonly Range[], size: number, unit = PAGE): Range[] {
  const aligned = ranges
    .map((r) => {
      const start = Math.max(0, Math.floor(r.offset / unit) * unit);
      const end = Math.min(size, Math.ceil((r.offset + r.length) / unit) * unit);
      return { offset: start, length: end - start };
    })
    .filter((r) => r.length > 0)
    .sort((a, b) => a.offset - b.offset);
  const merged: Range[] = [];
  for (const range of aligned) {
    const last = merged[merged.length - 1];
    if (last && range.offset <= last.offset + last.length) last.length = Math.max(last.length, range.offset + range.length - last.offset);
    else merged.push({ ...range });
  }
  return merged;
}

/** The pages one file's mappings had present. */
export interface TouchedFile {
  path: string;
  /** "major:minor:inode" as /proc/<pid>/maps shows it: the same path may name another file later. */
  identity: string;
  ranges: Range[];
}

/**
 * The pages of every file process `pid` maps (the binary, the dynamic loader, its libraries,
 * ld.so.cache) that are present in its page tables: /proc/<pid>/maps for the mappings, and for
 * each page of them bit 63 ("present") of /proc/<pid>/pagemap.
 */
export function touchedFiles(pid: number): TouchedFile[] {
  const files = new Map<string, TouchedFile>();
  const fd = openSync(`/proc/${pid}/pagemap`, "r");
  try {
    const maps = readFileSync(`/proc/${pid}/maps`, "utf8");
    // An exiting process has released its memory: nothing more to learn from it.
    if (maps === "") throw new Error(`process ${pid} has no memory left`);
    for (const line of maps.split("\n")) {
      // start-end perms offset major:minor inode path
      const [span, , offset, device, inode, ...rest] = line.split(/\s+/);
      const path = rest.join(" ");
      if (!span || !offset || !device || !inode || inode === "0" || !path.startsWith("/") || path.endsWith(" (deleted)")) continue;
      const [start, end] = span.split("-").map((hex) => Number.parseInt(hex, 16)) as [number, number];
      const pages = (end - start) / PAGE;
      const entries = Buffer.alloc(pages * 8);
      readSync(fd, entries, 0, entries.length, (start / PAGE) * 8);
      const identity = `${device}:${inode}`;
      const file = files.get(identity) ?? { path, identity, ranges: [] };
      files.set(identity, file);
      const base = Number.parseInt(offset, 16);
      for (let i = 0; i < pages; i++) {
        // Bit 63: the page is present in this process's page tables.
        if ((entries.readUInt32LE(i * 8 + 4) & 0x8000_0000) !== 0) file.ranges.push({ offset: base + i * PAGE, length: PAGE });
      }
    }
  } finally {
    closeSync(fd);
  }
  return [...files.values()].filter((file) => file.ranges.length > 0);
}

/**
 * Files every run reads before any of its code runs, so no look at its mappings sees them: the
 * dynamic loader's cache (mapped and unmapped again by ld.so) and the time zone the runtime reads.
 */
const READ_AT_START = ["/etc/ld.so.cache", "/etc/localtime"];
/** Such a file is locked whole only up to this size. */
const MAX_READ_AT_START_BYTES = 1024 * 1024;

function readAtStart(): TouchedFile[] {
  const files: TouchedFile[] = [];
  for (const path of READ_AT_START) {
    try {
      const st = statSync(path);
      if (st.isFile() && st.size > 0 && st.size <= MAX_READ_AT_START_BYTES)
        files.push({ path, identity: `${st.dev}:${st.ino}`, ranges: [{ offset: 0, length: st.size }] });
    } catch {
      // Not on this system: nothing to keep.
    }
  }
  return files;
}

/** Learning runs: a page the first run did not happen to touch (a timer, a collection) the next may. */
const PROBE_RUNS = 3;

/**
 * Runs `binary` as a runtime would at createRuntime, PROBE_RUNS times, against a private socket
 * served here, for a throwaway container (this process as its pid, a bundle in a private
 * directory), with no log file and no spool. While each run waits for its answer, it reads which
 * pages of which files the run has mapped, then answers it so it ends as a healthy run does.
 * Returns the union, the binary first.
 */
export async function probeTouchedFiles(binary: string): Promise<TouchedFile[]> {
  const dir = mkdtempSync(join(tmpdir(), "armor-warm-"));
  let server: ReturnType<typeof Bun.listen<{ decoder: FrameDecoder }>> | undefined;
  try {
    const socket = join(dir, "warm.sock");
    const bundle = join(dir, "bundle");
    mkdirSync(bundle);
    writeFileSync(join(bundle, "config.json"), JSON.stringify({ ociVersion: "1.0.2", process: { args: ["armor-warm-probe"] } }));
    const registry = new Registry();
    const union = new Map<string, { path: string; pages: Set<number> }>();
    let pid = 0;
    let asked = false;
    let failure: unknown;
    const collect = (files: TouchedFile[]): void => {
      for (const file of files) {
        const known = union.get(file.identity) ?? { path: file.path, pages: new Set<number>() };
        union.set(file.identity, known);
        for (const range of file.ranges) known.pages.add(range.offset);
      }
    };
    server = Bun.listen<{ decoder: FrameDecoder }>({
      unix: socket,
      socket: {
        open: (s) => void (s.data = { decoder: new FrameDecoder() }),
        data: (s, chunk) => {
          for (const payload of s.data.decoder.push(chunk)) {
            if (asked) continue;
            asked = true;
            try {
              collect(touchedFiles(pid));
            } catch (err) {
              failure = err;
            }
            const request = v.safeParse(RequestSchema, JSON.parse(new TextDecoder().decode(payload)));
            if (request.success) s.write(encodeFrame(dispatch(request.output, registry, { version: "warm-probe", startedAt: new Date() })));
            // What the run touches after its answer (reading it, exiting): look again until its
            // memory is gone. Synchronous on purpose, a few milliseconds once per binary.
            const until = performance.now() + PROBE_TIMEOUT_MS;
            while (performance.now() < until) {
              try {
                collect(touchedFiles(pid));
              } catch {
                break;
              }
            }
          }
        },
      },
    });
    for (let run = 0; run < PROBE_RUNS; run++) {
      const state = { ociVersion: "1.0.2", id: `armor-warm-probe-${run}`, status: "creating", pid: process.pid, bundle, annotations: {} };
      asked = false;
      const hook = Bun.spawn([binary, "createRuntime", "--socket", socket, "--timeout-ms", String(PROBE_TIMEOUT_MS), "--no-log-file"], {
        stdin: new TextEncoder().encode(JSON.stringify(state)),
        stdout: "ignore",
        stderr: "pipe",
        cwd: bundle,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
      pid = hook.pid;
      const [stderr, status] = await Promise.all([new Response(hook.stderr).text(), hook.exited]);
      if (failure !== undefined) throw failure;
      if (!asked) throw new Error(`the learning run never asked (exit ${status}${stderr ? `: ${stderr.trim().slice(0, 300)}` : ""})`);
    }
    const { ino } = statSync(binary);
    const files = [...union].map(([identity, { path, pages }]) => ({ path, identity, ranges: [...pages].map((offset) => ({ offset, length: PAGE })) }));
    files.sort((a, b) => Number(b.identity.endsWith(`:${ino}`)) - Number(a.identity.endsWith(`:${ino}`)));
    return [...files, ...readAtStart()];
  } finally {
    server?.stop(true);
    rmSync(dir, { recursive: true, force: true });
  }
}

function errorText(err: unknown): string {
  const code = typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
  return code ?? (err instanceof Error ? err.message : String(err));
}
