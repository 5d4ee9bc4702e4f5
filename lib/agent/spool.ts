/**
 * The agent's side of the spool: events the hook could not deliver, replayed in
 * the order they happened — at start, before the agent serves or is ready, and
 * then every second for events spooled while it was starting. Each event is
 * checked against the host: a spooled add whose process is gone (or is another
 * process now) is not registered; a spooled remove does not remove a newer live
 * container that reused the id.
 */
import { readdirSync, readlinkSync, unlinkSync } from "node:fs";
import { errnoOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry.ts";
import { ContainerIdSchema, ContainerInfoSchema } from "../container.ts";
import { MAX_SPOOL_ENTRY_BYTES, parseSpoolFileName, SPOOL_TMP_PREFIX, type SpoolRecord } from "../spool-format.ts";
import { describeIssue } from "../validate.ts";
import { fileAgeMs, preparePrivateDir } from "./private-dir.ts";
import { SerialPass } from "./serial-pass.ts";
import * as v from "valibot";

/** How often the agent looks for events spooled after its start. */
export const SPOOL_SWEEP_MS = 1000;
/** A temp file older than this belongs to a hook that died while writing it. */
export const STALE_TMP_MS = 60_000;

/** What a spooled event must be; anything else in the spool is removed with a warning. */
export const SpoolRecordSchema = v.variant("op", [
  v.strictObject({ v: v.literal(1), at: v.pipe(v.number(), v.integer(), v.minValue(0)), op: v.literal("register"), container: ContainerInfoSchema }),
  v.strictObject({ v: v.literal(1), at: v.pipe(v.number(), v.integer(), v.minValue(0)), op: v.literal("unregister"), container: ContainerIdSchema }),
]);

/** The host as the replay sees it; injected so tests need no real processes. */
export interface SpoolHost {
  readDir: (dir: string) => string[];
  readText: (path: string) => Promise<string>;
  remove: (path: string) => void;
  /** Age of a file in ms, or undefined when it is gone. */
  ageMs: (path: string) => number | undefined;
  /** The pid and mnt namespace inodes of a live process; undefined when it is gone or not visible here. */
  processNamespaces: (pid: number) => { pid: number; mnt: number } | undefined;
}

/** What one replay did. */
export interface ReplayReport {
  registered: number;
  removed: number;
  skipped: number;
  bad: number;
}

/** The spool directory of a running agent. */
export class Spool {
  readonly dir: string;
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #host: SpoolHost;
  readonly #passes = new SerialPass(() => this.#replayOnce());

  constructor(options: { dir: string; registry: Registry; log: Logger; host?: SpoolHost }) {
    this.dir = options.dir;
    this.#registry = options.registry;
    this.#log = options.log;
    this.#host = options.host ?? realHost;
  }

  /** Creates the directory 0700 (its existence tells hooks the agent has started on this node), or checks it. */
  prepare(): void {
    preparePrivateDir(this.dir, "spool");
  }

  /** Events waiting in the spool now (the `armor_spool_depth` gauge). */
  depth(): number {
    try {
      return this.#host.readDir(this.dir).filter((name) => parseSpoolFileName(name) !== undefined).length;
    } catch {
      return 0;
    }
  }

  /** Replays every complete event in name (= time) order, then deletes it. Calls never overlap. */
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
    for (const name of names.sort()) {
      const path = `${this.dir}/${name}`;
      if (name.startsWith(SPOOL_TMP_PREFIX)) {
        const age = this.#host.ageMs(path);
        if (age !== undefined && age > STALE_TMP_MS) this.#discard(path, "a hook died while writing it");
        continue;
      }
      if (!parseSpoolFileName(name)) continue;
      const record = await this.#read(path);
      if (!record) {
        report.bad += 1;
        continue;
      }
      const outcome = this.#apply(record);
      report[outcome.result] += 1;
      this.#log(outcome.result === "skipped" ? "warn" : "info", `spooled ${record.op} ${outcome.result}`, {
        id: idOf(record),
        reason: outcome.reason,
        file: name,
      });
      this.#discard(path);
    }
    return report;
  }

  async #read(path: string): Promise<SpoolRecord | undefined> {
    let text: string;
    try {
      text = await this.#host.readText(path);
    } catch (err) {
      this.#log("warn", "cannot read a spooled event", { file: path, error: errnoOf(err) ?? String(err) });
      return undefined;
    }
    let json: unknown;
    try {
      if (text.length > MAX_SPOOL_ENTRY_BYTES) throw new Error(`larger than ${MAX_SPOOL_ENTRY_BYTES} bytes`);
      json = JSON.parse(text);
    } catch (err) {
      this.#discard(path, `not a spooled event: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
    const parsed = v.safeParse(SpoolRecordSchema, json);
    if (!parsed.success) {
      this.#discard(path, `not a spooled event: ${describeIssue(parsed.issues[0])}`);
      return undefined;
    }
    return parsed.output;
  }

  #apply(record: SpoolRecord): { result: "registered" | "removed" | "skipped"; reason?: string } {
    if (record.op === "register") {
      const { container } = record;
      if (!this.#alive(container.pid, container.namespaces)) return { result: "skipped", reason: `process ${container.pid} is gone or is another process now` };
      this.#registry.register(container, "hook");
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

  #alive(pid: number, namespaces: { pid?: number | undefined; mnt?: number | undefined }): boolean {
    const live = this.#host.processNamespaces(pid);
    return live !== undefined && live.pid === namespaces.pid && live.mnt === namespaces.mnt;
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
  readText: (path) =>
    Bun.file(path)
      .slice(0, MAX_SPOOL_ENTRY_BYTES + 1)
      .text(),
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
};
