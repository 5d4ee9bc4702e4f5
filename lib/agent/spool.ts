/**
 * The agent's side of the spool: events the hook could not deliver, replayed in
 * the order they happened — at start, before the agent serves or is ready, and
 * then every second for events spooled while it was starting. Each event is
 * checked against the host: a spooled add whose process is gone (or is another
 * process now) is not registered; a spooled remove does not remove a newer live
 * container that reused the id. A temp file a killed hook left between its write
 * and its rename is replayed too, in its place, when it holds the whole event.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, unlinkSync } from "node:fs";
import { readProcStat } from "./sweep.ts";
import { errnoOf } from "../errors.ts";
import { liveStartTime } from "../proc/start-time.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry.ts";
import { MAX_SPOOL_ENTRY_BYTES, parseSpoolFileName, SPOOL_TMP_PREFIX, spoolRecordSchema, type SpoolRecord } from "../spool-format.ts";
import { readRegularText, UnsafeFileError } from "../safe-read.ts";
import { describeIssue } from "../validate.ts";
import { fileAgeMs, preparePrivateDir } from "./private-dir.ts";
import { SerialPass } from "./serial-pass.ts";
import * as v from "valibot";

/** How often the agent looks for events spooled after its start. */
export const SPOOL_SWEEP_MS = 1000;
/** A temp file untouched for this long has no writer left, whatever its pid shows (the hook's --timeout-ms is at most 60 s). */
export const STALE_TMP_MS = 60_000;
/** A temp file whose hook's pid is gone is final only once untouched for this long (see #writerEnded). */
export const TMP_SETTLE_MS = 2_000;

/** The host as the replay sees it; injected so tests need no real processes. */
export interface SpoolHost {
  readDir: (dir: string) => string[];
  readText: (path: string) => Promise<string>;
  remove: (path: string) => void;
  /** Age of a file in ms, or undefined when it is gone. */
  ageMs: (path: string) => number | undefined;
  /** The pid and mnt namespace inodes of a live process; undefined when it is gone or not visible here. */
  processNamespaces: (pid: number) => { pid: number; mnt: number } | undefined;
  /** When a live process started, in ms since the epoch (to /proc's 10 ms); undefined when gone or unreadable. */
  processStartedAtMs: (pid: number) => number | undefined;
  /** Whether a process `pid` exists (false, too, when it is not visible here). */
  processExists: (pid: number) => boolean;
}

/** What one replay did. */
export interface ReplayReport {
  registered: number;
  removed: number;
  skipped: number;
  bad: number;
}

/** One event to replay: a complete file, or a temp file recovered in its place. */
interface Entry {
  /** The event's name (a temp file's without its prefix): replay order. */
  name: string;
  path: string;
  /** The size its name gives. */
  bytes: number;
  recovered: boolean;
}

const encoder = new TextEncoder();

/** The spool directory of a running agent. */
export class Spool {
  readonly dir: string;
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #host: SpoolHost;
  readonly #observe: ((record: SpoolRecord) => void) | undefined;
  readonly #passes = new SerialPass(() => this.#replayOnce());

  /**
   * `observe` is told of every spooled event replayed: each is a hook call that went on without
   * the agent's confirmation (metrics count them as `unconfirmed` hook calls).
   */
  constructor(options: { dir: string; registry: Registry; log: Logger; host?: SpoolHost; observe?: (record: SpoolRecord) => void }) {
    this.dir = options.dir;
    this.#registry = options.registry;
    this.#log = options.log;
    this.#host = options.host ?? realHost;
    this.#observe = options.observe;
  }

  /** Creates the directory 0700 (its existence tells hooks the agent has started on this node), or checks it. */
  prepare(): void {
    preparePrivateDir(this.dir, "spool");
  }

  /**
   * Events waiting in the spool now (the `armor_spool_depth` gauge): complete files and
   * temp files, each an event being written or one a killed hook left, which a pass
   * replays or removes. One directory listing, nothing read.
   */
  depth(): number {
    try {
      return this.#host.readDir(this.dir).filter((name) => parseSpoolFileName(eventName(name)) !== undefined).length;
    } catch {
      return 0;
    }
  }

  /** Replays every complete event (and every temp file a killed hook left) in name (= time) order, then deletes it. Calls never overlap. */
  replay(): Promise<ReplayReport> {
    return this.#passes.run();
  }

  /** Replays again every `intervalMs`, for events spooled while the agent was starting. */
  startSweeping(intervalMs = SPOOL_SWEEP_MS): void {
    this.#passes.start(intervalMs);
  }

  /** Stops sweeping. */
  stop(): void {
    this.#passes.stop();
  }

  async #replayOnce(): Promise<ReplayReport> {
    const report: ReplayReport = { registered: 0, removed: 0, skipped: 0, bad: 0 };
    let names: string[];
    try {
      names = this.#host.readDir(this.dir);
    } catch (err) {
      this.#log("warn", "cannot read the spool", { dir: this.dir, error: errnoOf(err) ?? String(err) });
      return report;
    }
    const entries: Entry[] = [];
    for (const name of names) {
      const entry = name.startsWith(SPOOL_TMP_PREFIX) ? this.#leftByKilledHook(name) : this.#complete(name);
      if (entry) entries.push(entry);
    }
    // Recovered events take their own place: an add and a later remove of one id may both wait here.
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const record = await this.#read(entry);
      if (!record) {
        report.bad += 1;
        continue;
      }
      const outcome = this.#apply(record);
      report[outcome.result] += 1;
      this.#observe?.(record);
      this.#log(outcome.result === "skipped" ? "warn" : "info", `spooled ${record.op} ${outcome.result}`, {
        id: idOf(record),
        reason: outcome.reason,
        file: entry.name,
        ...(entry.recovered ? { recoveredFrom: `${SPOOL_TMP_PREFIX}${entry.name}` } : {}),
      });
      this.#discard(entry.path);
    }
    return report;
  }

  #complete(name: string): Entry | undefined {
    const parsed = parseSpoolFileName(name);
    return parsed && { name, path: `${this.dir}/${name}`, bytes: parsed.bytes, recovered: false };
  }

  /** A temp file as the event it was meant to become, once its writer has certainly ended; until then undefined (left alone). */
  #leftByKilledHook(tmpName: string): Entry | undefined {
    const path = `${this.dir}/${tmpName}`;
    const name = eventName(tmpName);
    const parsed = parseSpoolFileName(name);
    const age = this.#host.ageMs(path);
    if (age === undefined) return undefined; // renamed or removed meanwhile
    if (!parsed) {
      if (age > STALE_TMP_MS) this.#discard(path, "a stray temp file");
      return undefined;
    }
    if (!this.#writerEnded(parsed.pid, age)) return undefined;
    return { name, path, bytes: parsed.bytes, recovered: true };
  }

  /**
   * Whether the hook that wrote a temp file `ageMs` ago has certainly ended, so the
   * file will never be renamed. A hook exits by its --timeout-ms, so past STALE_TMP_MS
   * it has, whatever its pid shows now (pids are reused). A pid that is gone says so
   * sooner — but an agent without the host's PID namespace sees no hook's pid, and
   * every writer looks gone to it. A hook renames its file milliseconds after writing
   * it, so TMP_SETTLE_MS untouched keeps such an agent off a file about to be renamed.
   */
  #writerEnded(pid: number, ageMs: number): boolean {
    return ageMs > STALE_TMP_MS || (ageMs >= TMP_SETTLE_MS && !this.#host.processExists(pid));
  }

  async #read(entry: Entry): Promise<SpoolRecord | undefined> {
    const { path } = entry;
    let text: string;
    try {
      text = await this.#host.readText(path);
    } catch (err) {
      const errno = errnoOf(err);
      // A FIFO, a link, a directory or an oversized file: never an event a hook wrote (lib/safe-read.ts).
      if (err instanceof UnsafeFileError) this.#discard(path, err.message);
      else this.#log("warn", "cannot read a spooled event", { file: path, error: errno ?? String(err) });
      return undefined;
    }
    const bad = entry.recovered ? "a hook was killed before its event was whole" : "not a spooled event";
    let json: unknown;
    try {
      if (text.length > MAX_SPOOL_ENTRY_BYTES) throw new Error(`larger than ${MAX_SPOOL_ENTRY_BYTES} bytes`);
      const bytes = encoder.encode(text).length;
      if (bytes !== entry.bytes) throw new Error(`${bytes} bytes where its name says ${entry.bytes}`);
      json = JSON.parse(text);
    } catch (err) {
      this.#discard(path, `${bad}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
    const parsed = v.safeParse(spoolRecordSchema(), json);
    if (!parsed.success) {
      this.#discard(path, `${bad}: ${describeIssue(parsed.issues[0])}`);
      return undefined;
    }
    return parsed.output;
  }

  #apply(record: SpoolRecord): { result: "registered" | "removed" | "skipped"; reason?: string } {
    if (record.op === "register") {
      const { container } = record;
      if (!this.#alive(container.pid, container.namespaces, record.at / 1000))
        return { result: "skipped", reason: `process ${container.pid} is gone or is another process now` };
      const { outcome, reason } = this.#registry.register(container, "hook");
      if (outcome === "full") return { result: "skipped", reason: reason ?? "the registry is full" };
      return { result: "registered" };
    }
    const held = this.#registry.get(record.container);
    // A container registered after the event and still running reused the id: the event is not about it.
    if (held && Date.parse(held.registeredAt) > record.at / 1000 && this.#alive(held.pid, held.namespaces)) {
      return { result: "skipped", reason: `a newer container holds id ${held.id}` };
    }
    this.#registry.unregister(record.container);
    return { result: "removed" };
  }

  /**
   * Whether `pid` is still the process a record describes: the same pid namespace, and the
   * same mount namespace — or, for a spooled add written at `atMs`, a start before the hook
   * ran. A container may `unshare -m` before the replay (its mount namespace changes, it is
   * the same process); a reused pid started after the original died, so after its hook ran.
   */
  #alive(pid: number, namespaces: { pid?: number | undefined; mnt?: number | undefined }, atMs?: number): boolean {
    const live = this.#host.processNamespaces(pid);
    if (live === undefined || live.pid !== namespaces.pid) return false;
    if (live.mnt === namespaces.mnt) return true;
    if (atMs === undefined) return false;
    const startedAtMs = this.#host.processStartedAtMs(pid);
    return startedAtMs !== undefined && startedAtMs <= atMs + START_TIME_SLACK_MS;
  }

  #discard(path: string, warning?: string): void {
    if (warning) this.#log("warn", `removing ${path} from the spool: ${warning}`);
    try {
      this.#host.remove(path);
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") this.#log("warn", "cannot remove a spooled event", { file: path, error: errnoOf(err) ?? String(err) });
    }
  }
}

/** /proc's start times and uptime count in 10 ms ticks: two of them apart at most. */
const START_TIME_SLACK_MS = 20;

/** USER_HZ: /proc/<pid>/stat's start time counts these per second on every Linux architecture we build for. */
const TICKS_PER_SECOND = 100;

/** When a live process started, in ms since the epoch, from its start ticks and /proc/uptime; undefined when unreadable. */
function processStartedAtMs(pid: number): number | undefined {
  try {
    const ticks = liveStartTime(readProcStat(pid));
    const uptime = Number(readFileSync("/proc/uptime", "latin1").split(" ")[0]);
    if (ticks === undefined || !Number.isFinite(uptime)) return undefined;
    return Date.now() - uptime * 1000 + (ticks * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The event a file is, or is becoming: its name without the temp prefix. */
function eventName(fileName: string): string {
  return fileName.startsWith(SPOOL_TMP_PREFIX) ? fileName.slice(SPOOL_TMP_PREFIX.length) : fileName;
}

function idOf(record: SpoolRecord): string {
  return record.op === "register" ? record.container.id : record.container;
}

const inodeOf = (link: string): number | undefined => {
  const match = /\[(\d+)\]$/.exec(link);
  return match?.[1] === undefined ? undefined : Number(match[1]);
};

/** The real host: node:fs and /proc. */
export const realHost: SpoolHost = {
  readDir: (dir) => readdirSync(dir),
  readText: async (path) => readRegularText(path, MAX_SPOOL_ENTRY_BYTES),
  remove: (path) => unlinkSync(path),
  ageMs: fileAgeMs,
  processNamespaces: (pid) => {
    try {
      const pidns = inodeOf(readlinkSync(`/proc/${pid}/ns/pid`));
      const mntns = inodeOf(readlinkSync(`/proc/${pid}/ns/mnt`));
      return pidns === undefined || mntns === undefined ? undefined : { pid: pidns, mnt: mntns };
    } catch {
      return undefined;
    }
  },
  processStartedAtMs,
  processExists: (pid) => existsSync(`/proc/${pid}`),
};
