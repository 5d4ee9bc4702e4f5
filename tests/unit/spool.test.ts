import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { realHost, Spool, STALE_TMP_MS, type SpoolHost, TMP_SETTLE_MS } from "../../lib/agent/spool.ts";
import { writeSpool } from "../../lib/hook/spool.ts";
import { Registry } from "../../lib/registry.ts";
import {
  MAX_SPOOL_BYTES,
  MAX_SPOOL_ENTRY_BYTES,
  MAX_SPOOL_FILES,
  parseSpoolFileName,
  SPOOL_TMP_PREFIX,
  spoolFileName,
  spoolRecordSchema,
  type SpoolRecord,
} from "../../lib/spool-format.ts";
import * as v from "valibot";
import { containerInfo, recordingLogger, tempDir } from "./_fixtures.ts";

let tmp: { dir: string; remove: () => void };
let dir: string;

beforeEach(() => {
  tmp = tempDir();
  dir = join(tmp.dir, "spool");
  mkdirSync(dir, { mode: 0o700 });
});

afterEach(() => tmp.remove());

const add = (at: number, overrides: Parameters<typeof containerInfo>[0] = {}): SpoolRecord => ({
  v: 1,
  at,
  op: "register",
  container: containerInfo(overrides),
});
const remove = (at: number, id = "c1"): SpoolRecord => ({ v: 1, at, op: "unregister", container: id });

describe("spool file names", () => {
  test("sort in time order and carry their size", () => {
    const early = spoolFileName(999, 7, 0xabc, 12);
    const late = spoolFileName(1_000_000_000_000_000, 1, 0, 3);
    expect(early).toBe("0000000000000999-7-00000abc-12.json");
    expect([late, early].sort()).toEqual([early, late]);
    expect(parseSpoolFileName(early)).toEqual({ atMicros: 999, pid: 7, bytes: 12 });
  });

  test.each([".tmp-0000000000000999-7-00000abc-12.json", "notes.txt", "0000000000000999-7-xyz-12.json", "999-7-00000abc-12.json"])(
    "are not confused with %s",
    (name) => {
      expect(parseSpoolFileName(name)).toBeUndefined();
    },
  );
});

describe("spoolRecordSchema()", () => {
  test.each([
    ["an add", add(1_700_000_000_000_001)],
    ["a remove", remove(1_700_000_000_000_002)],
  ])("takes %s as the hook writes it", async (_name, record) => {
    const result = await writeSpool(dir, record, 4242);
    expect("written" in result).toBe(true);
    const [name] = readdirSync(dir);
    expect(v.parse(spoolRecordSchema(), JSON.parse(readFileSync(join(dir, name as string), "utf8")))).toEqual(record);
  });

  test.each([
    ["a version it does not know", { ...remove(1), v: 2 }],
    ["a negative time", remove(-1)],
    ["an extra field", { ...remove(1), note: "x" }],
    ["an unknown op", { v: 1, at: 1, op: "poke", container: "c1" }],
  ])("refuses %s", (_name, record) => {
    expect(v.safeParse(spoolRecordSchema(), record).success).toBe(false);
  });
});

describe("writeSpool() (hook side)", () => {
  test("writes one complete owner-only file under a sortable name, and no temp file", async () => {
    const result = await writeSpool(dir, add(1_700_000_000_000_001), 4242);
    if (!("written" in result)) throw new Error(`not written: ${result.dropped}`);
    const names = readdirSync(dir);
    expect(names).toHaveLength(1);
    const name = names[0] as string;
    expect(result.written).toBe(join(dir, name));
    expect(name).toMatch(/^1700000000000001-4242-[0-9a-f]{8}-\d+\.json$/);
    expect(statSync(result.written).mode & 0o777).toBe(0o600);
    const text = readFileSync(result.written, "utf8");
    expect(parseSpoolFileName(name)?.bytes).toBe(Buffer.byteLength(text));
    expect(JSON.parse(text)).toEqual(add(1_700_000_000_000_001));
  });

  test("drops an event when the spool holds MAX_SPOOL_FILES events", async () => {
    for (let i = 0; i < MAX_SPOOL_FILES; i++) writeFileSync(join(dir, spoolFileName(i, 1, i, 10)), "x");
    const result = await writeSpool(dir, remove(5_000_000));
    expect(result).toEqual({ dropped: expect.stringContaining(`is full (${MAX_SPOOL_FILES} events`) });
    expect(readdirSync(dir)).toHaveLength(MAX_SPOOL_FILES);
  });

  test("drops an event that would take the spool past MAX_SPOOL_BYTES, counting sizes from the names", async () => {
    writeFileSync(join(dir, spoolFileName(1, 1, 1, MAX_SPOOL_BYTES - 10)), "x");
    expect(await writeSpool(dir, remove(2))).toEqual({ dropped: expect.stringContaining("is full") });
  });

  test("drops an event larger than one frame", async () => {
    const result = await writeSpool(dir, add(1, { bundle: "b".repeat(MAX_SPOOL_ENTRY_BYTES) }));
    expect(result).toEqual({ dropped: expect.stringContaining(`larger than ${MAX_SPOOL_ENTRY_BYTES}`) });
  });

  test("drops, without throwing, when the directory is missing", async () => {
    const result = await writeSpool(join(tmp.dir, "missing"), remove(1));
    expect(result).toEqual({ dropped: expect.stringContaining("ENOENT") });
  });
});

/** A host whose live processes are a table: pid → (pidns, mntns), plus running hooks' pids. */
function fakeHost(
  live: Map<number, { pid: number; mnt: number; startedAtMs?: number }>,
  ages: Map<string, number> = new Map(),
  hooks: Set<number> = new Set(),
): SpoolHost {
  return {
    readDir: (path) => readdirSync(path),
    readText: async (path) => readFileSync(path, "utf8"),
    remove: (path) => Bun.spawnSync(["rm", "-f", path]),
    ageMs: (path) => ages.get(path.slice(path.lastIndexOf("/") + 1)) ?? 0,
    processNamespaces: (pid) => {
      const found = live.get(pid);
      return found === undefined ? undefined : { pid: found.pid, mnt: found.mnt };
    },
    processStartedAtMs: (pid) => live.get(pid)?.startedAtMs,
    processExists: (pid) => live.has(pid) || hooks.has(pid),
  };
}

const NS = { pid: 4026532001, mnt: 4026532002 };

/** Waits for `check` to hold, for at most 2 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 2000; !check(); await Bun.sleep(5)) {
    if (Date.now() > deadline) throw new Error("timed out");
  }
}

async function spoolAll(...records: SpoolRecord[]): Promise<void> {
  for (const record of records) {
    const result = await writeSpool(dir, record);
    if (!("written" in result)) throw new Error(result.dropped);
  }
}

describe("Spool (agent side)", () => {
  test("replays a spooled add whose process is alive, as a hook registration, and deletes the file", async () => {
    await spoolAll(add(1_000_000));
    const registry = new Registry();
    const spool = new Spool({ dir, registry, log: recordingLogger().log, host: fakeHost(new Map([[4242, NS]])) });
    expect(spool.depth()).toBe(1);
    expect(await spool.replay()).toEqual({ registered: 1, removed: 0, skipped: 0, bad: 0 });
    expect(registry.get("c1")?.source).toBe("hook");
    expect(readdirSync(dir)).toEqual([]);
    expect(spool.depth()).toBe(0);
  });

  test("tells its observer of every event it replays, each an unconfirmed hook call, whatever became of it", async () => {
    await spoolAll(add(1_000_000), add(2_000_000, { id: "c2", pid: 999 }), remove(3_000_000, "gone"));
    const seen: string[] = [];
    const spool = new Spool({
      dir,
      registry: new Registry(),
      log: recordingLogger().log,
      host: fakeHost(new Map([[4242, NS]])),
      observe: (r) => void seen.push(r.op),
    });
    expect(await spool.replay()).toEqual({ registered: 1, removed: 1, skipped: 1, bad: 0 });
    expect(seen).toEqual(["register", "register", "unregister"]);
  });

  test("does not register a container whose process died meanwhile", async () => {
    await spoolAll(add(1_000_000));
    const registry = new Registry();
    const logs = recordingLogger();
    const spool = new Spool({ dir, registry, log: logs.log, host: fakeHost(new Map()) });
    expect(await spool.replay()).toEqual({ registered: 0, removed: 0, skipped: 1, bad: 0 });
    expect(registry.size).toBe(0);
    expect(logs.records.some((r) => r.level === "warn" && r.msg === "spooled register skipped")).toBe(true);
  });

  test("does not register a reused pid: the process lives in other namespaces", async () => {
    await spoolAll(add(1_000_000));
    const registry = new Registry();
    const spool = new Spool({ dir, registry, log: recordingLogger().log, host: fakeHost(new Map([[4242, { pid: 1, mnt: 2 }]])) });
    await spool.replay();
    expect(registry.size).toBe(0);
  });

  test("registers a container that changed its mount namespace (unshare -m) after its hook: it started before the hook ran", async () => {
    const at = Date.parse("2026-01-01T00:00:00.000Z");
    await spoolAll(add(at * 1000));
    const registry = new Registry();
    const host = fakeHost(new Map([[4242, { pid: NS.pid, mnt: 4026539999, startedAtMs: at - 50 }]]));
    expect(await new Spool({ dir, registry, log: recordingLogger().log, host }).replay()).toEqual({ registered: 1, removed: 0, skipped: 0, bad: 0 });
    expect(registry.get("c1")?.source).toBe("hook");
  });

  test("does not register a reused pid in the same pid namespace: it started after the hook ran", async () => {
    const at = Date.parse("2026-01-01T00:00:00.000Z");
    await spoolAll(add(at * 1000));
    const registry = new Registry();
    for (const live of [
      { pid: NS.pid, mnt: 4026539999, startedAtMs: at + 500 },
      { pid: NS.pid, mnt: 4026539999 },
    ]) {
      const host = fakeHost(new Map([[4242, live]]));
      expect((await new Spool({ dir, registry, log: recordingLogger().log, host }).replay()).registered).toBe(0);
      expect(registry.size).toBe(0);
      await spoolAll(add(at * 1000));
    }
  });

  test("the real host tells when a live process started, to /proc's ticks", () => {
    const startedAtMs = realHost.processStartedAtMs(process.pid);
    expect(startedAtMs).toBeDefined();
    expect(Math.abs((startedAtMs ?? 0) - performance.timeOrigin)).toBeLessThan(5_000);
  });

  test("keeps add/remove order: add then remove of one container leaves nothing", async () => {
    await spoolAll(add(1_000_000), remove(2_000_000), add(3_000_000, { id: "c2", pid: 4343 }));
    const registry = new Registry();
    // c1 ran when its add was replayed and had stopped (its poststop was spooled) by the remove.
    const live = new Map([
      [4242, NS],
      [4343, NS],
    ]);
    const host = fakeHost(live);
    const check = host.processNamespaces;
    host.processNamespaces = (pid) => {
      const found = check(pid);
      if (pid === 4242) live.delete(4242);
      return found;
    };
    const spool = new Spool({ dir, registry, log: recordingLogger().log, host });
    expect(await spool.replay()).toEqual({ registered: 2, removed: 1, skipped: 0, bad: 0 });
    expect(registry.list().map((c) => c.id)).toEqual(["c2"]);
  });

  test("a spooled remove keeps a stale pre-existing entry from coming back", async () => {
    await spoolAll(remove(1_000_000));
    const registry = new Registry();
    await new Spool({ dir, registry, log: recordingLogger().log, host: fakeHost(new Map()) }).replay();
    expect(registry.register(containerInfo(), "bootstrap").outcome).toBe("ignored");
  });

  test("a spooled remove does not remove a newer live container that reused the id", async () => {
    await spoolAll(remove(Date.parse("2025-01-01T00:00:00.000Z") * 1000));
    const registry = new Registry(() => new Date("2025-01-01T00:00:05.000Z"));
    registry.register(containerInfo({ pid: 77 }), "hook");
    await new Spool({ dir, registry, log: recordingLogger().log, host: fakeHost(new Map([[77, NS]])) }).replay();
    expect(registry.get("c1")?.pid).toBe(77);
  });

  test("a spooled remove removes an entry registered before it", async () => {
    await spoolAll(remove(Date.parse("2025-01-01T00:00:10.000Z") * 1000));
    const registry = new Registry(() => new Date("2025-01-01T00:00:05.000Z"));
    registry.register(containerInfo({ pid: 77 }), "bootstrap");
    await new Spool({ dir, registry, log: recordingLogger().log, host: fakeHost(new Map([[77, NS]])) }).replay();
    expect(registry.size).toBe(0);
  });

  test.each([
    ["not JSON", "{"],
    ["not an event", JSON.stringify({ v: 1, at: 1, op: "register", container: { id: "x" } })],
    ["another version", JSON.stringify({ ...remove(1), v: 2 })],
    ["an extra field", JSON.stringify({ ...remove(1), extra: true })],
  ])("removes an unreadable spool file (%s) with a warning and replays the rest", async (_name, text) => {
    writeFileSync(join(dir, spoolFileName(1, 1, 1, text.length)), text);
    await spoolAll(add(2));
    const registry = new Registry();
    const logs = recordingLogger();
    const report = await new Spool({ dir, registry, log: logs.log, host: fakeHost(new Map([[4242, NS]])) }).replay();
    expect(report).toEqual({ registered: 1, removed: 0, skipped: 0, bad: 1 });
    expect(readdirSync(dir)).toEqual([]);
    expect(logs.records.some((r) => r.level === "warn" && r.msg.includes("not a spooled event"))).toBe(true);
  });

  test("leaves a temp file being written, removes a torn one a dead hook left, and ignores strays", async () => {
    const fresh = `.tmp-${spoolFileName(1, 1, 1, 1)}`;
    const stale = `.tmp-${spoolFileName(2, 2, 2, 1)}`;
    const stray = ".tmp-notes";
    for (const name of [fresh, stale, stray, "README"]) writeFileSync(join(dir, name), "{");
    const host = fakeHost(
      new Map(),
      new Map([
        [fresh, 1000],
        [stale, 120_000],
        [stray, 120_000],
      ]),
    );
    expect(await new Spool({ dir, registry: new Registry(), log: recordingLogger().log, host }).replay()).toEqual({
      registered: 0,
      removed: 0,
      skipped: 0,
      bad: 1,
    });
    expect(readdirSync(dir).sort()).toEqual([fresh, "README"].sort());
  });

  test("removes a file whose size is not the size its name gives, with a warning", async () => {
    const text = `${JSON.stringify(remove(1))}\n`;
    writeFileSync(join(dir, spoolFileName(1, 1, 1, text.length + 1)), text);
    const registry = new Registry();
    registry.register(containerInfo(), "hook");
    const logs = recordingLogger();
    expect(await new Spool({ dir, registry, log: logs.log, host: fakeHost(new Map()) }).replay()).toEqual({ registered: 0, removed: 0, skipped: 0, bad: 1 });
    expect(registry.get("c1")).toBeDefined();
    expect(readdirSync(dir)).toEqual([]);
    expect(logs.records.some((r) => r.level === "warn" && r.msg.includes(`${text.length} bytes where its name says ${text.length + 1}`))).toBe(true);
  });

  test("replays that are asked for at once run one after the other, each event once", async () => {
    await spoolAll(add(1), add(2, { id: "c2" }));
    const registry = new Registry();
    const events: string[] = [];
    registry.subscribe((e) => events.push(`${e.event} ${e.container.id}`));
    const spool = new Spool({ dir, registry, log: recordingLogger().log, host: fakeHost(new Map([[4242, NS]])) });
    const reports = await Promise.all([spool.replay(), spool.replay()]);
    expect(reports[0]).toEqual({ registered: 2, removed: 0, skipped: 0, bad: 0 });
    expect(reports[1]).toEqual({ registered: 0, removed: 0, skipped: 0, bad: 0 });
    expect(events).toEqual(["add c1", "add c2"]);
  });

  test("sweeping replays events spooled after the start's replay, pass after pass", async () => {
    const registry = new Registry();
    const spool = new Spool({ dir, registry, log: recordingLogger().log, host: fakeHost(new Map([[4242, NS]])) });
    expect(await spool.replay()).toEqual({ registered: 0, removed: 0, skipped: 0, bad: 0 });
    spool.startSweeping(10);
    try {
      await spoolAll(add(1));
      await waitUntil(() => registry.get("c1") !== undefined);
      await spoolAll(add(2, { id: "c2" }));
      await waitUntil(() => registry.get("c2") !== undefined);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      spool.stop();
    }
  });

  test("a FIFO, a link to /dev/zero and a directory named like spooled events cost only themselves", async () => {
    await spoolAll(add(1_000_000));
    const fifo = join(dir, spoolFileName(1_000_001, 1, 1, 10));
    const zero = join(dir, spoolFileName(1_000_002, 1, 2, 10));
    const directory = join(dir, spoolFileName(1_000_003, 1, 3, 10));
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    symlinkSync("/dev/zero", zero);
    mkdirSync(directory);
    const registry = new Registry();
    const logs = recordingLogger();
    const host = { ...fakeHost(new Map([[4242, NS]])), readText: realHost.readText, remove: realHost.remove };
    const report = await new Spool({ dir, registry, log: logs.log, host }).replay();
    expect(report.registered).toBe(1);
    expect(registry.get("c1")).toBeDefined();
    expect(readdirSync(dir)).toEqual([directory.slice(dir.length + 1)]);
    const warnings = logs.records.filter((r) => r.level === "warn").map((r) => r.msg);
    expect(warnings).toContain(`removing ${fifo} from the spool: ${fifo} is a FIFO, not a regular file`);
    expect(warnings.some((w) => w.startsWith(`removing ${zero} from the spool`))).toBe(true);
  });

  test("realHost.processExists() sees this process and not a pid above the kernel's limit", () => {
    expect(realHost.processExists(process.pid)).toBe(true);
    expect(realHost.processExists(2 ** 22 + 1)).toBe(false);
  });

  test("prepare() creates the directory 0700, and makes an existing one 0700", () => {
    const fresh = join(tmp.dir, "fresh");
    new Spool({ dir: fresh, registry: new Registry(), log: recordingLogger().log }).prepare();
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
    mkdirSync(join(tmp.dir, "loose"), { mode: 0o755 });
    new Spool({ dir: join(tmp.dir, "loose"), registry: new Registry(), log: recordingLogger().log }).prepare();
    expect(statSync(join(tmp.dir, "loose")).mode & 0o777).toBe(0o700);
  });
});

const HOOK = 31337;
const T0 = Date.parse("2025-01-01T00:00:00.000Z") * 1000;

/**
 * Leaves `record` as the temp file of hook `hookPid` killed before its rename:
 * whole, or only its first `keep` bytes. Returns the file's name.
 */
function leaveTemp(record: SpoolRecord, hookPid = HOOK, keep?: number): string {
  const bytes = Buffer.from(`${JSON.stringify(record)}\n`);
  const name = `${SPOOL_TMP_PREFIX}${spoolFileName(record.at, hookPid, 0xfeed, bytes.length)}`;
  writeFileSync(join(dir, name), bytes.subarray(0, keep ?? bytes.length), { mode: 0o600 });
  return name;
}

describe("Spool (agent side): temp files a killed hook left", () => {
  test("replays a whole temp file whose hook is gone, as the event it names, and removes it", async () => {
    const name = leaveTemp(add(T0));
    const registry = new Registry();
    const logs = recordingLogger();
    const spool = new Spool({ dir, registry, log: logs.log, host: fakeHost(new Map([[4242, NS]]), new Map([[name, TMP_SETTLE_MS]])) });
    expect(spool.depth()).toBe(1);
    expect(await spool.replay()).toEqual({ registered: 1, removed: 0, skipped: 0, bad: 0 });
    expect(registry.get("c1")?.source).toBe("hook");
    expect(readdirSync(dir)).toEqual([]);
    expect(spool.depth()).toBe(0);
    expect(logs.records.find((r) => r.msg === "spooled register registered")?.fields).toMatchObject({
      file: name.slice(SPOOL_TMP_PREFIX.length),
      recoveredFrom: name,
    });
  });

  test("keeps checking a recovered add against /proc: a container that died meanwhile is not registered", async () => {
    const name = leaveTemp(add(T0));
    const registry = new Registry();
    const spool = new Spool({ dir, registry, log: recordingLogger().log, host: fakeHost(new Map(), new Map([[name, TMP_SETTLE_MS]])) });
    expect(await spool.replay()).toEqual({ registered: 0, removed: 0, skipped: 1, bad: 0 });
    expect(readdirSync(dir)).toEqual([]);
  });

  test.each([
    ["its hook is alive", new Set([HOOK]), STALE_TMP_MS - 1],
    ["its hook's pid is gone but it is younger than TMP_SETTLE_MS (maybe only invisible, about to rename)", new Set<number>(), TMP_SETTLE_MS - 1],
  ])("leaves a temp file alone while %s", async (_name, hooks, age) => {
    const name = leaveTemp(add(T0));
    const registry = new Registry();
    const spool = new Spool({ dir, registry, log: recordingLogger().log, host: fakeHost(new Map([[4242, NS]]), new Map([[name, age]]), hooks) });
    expect(await spool.replay()).toEqual({ registered: 0, removed: 0, skipped: 0, bad: 0 });
    expect(registry.size).toBe(0);
    expect(readdirSync(dir)).toEqual([name]);
    expect(spool.depth()).toBe(1);
  });

  test("treats a temp file older than STALE_TMP_MS as final even though its hook's pid exists (reused)", async () => {
    const name = leaveTemp(add(T0));
    const registry = new Registry();
    const host = fakeHost(new Map([[4242, NS]]), new Map([[name, STALE_TMP_MS + 1]]), new Set([HOOK]));
    expect(await new Spool({ dir, registry, log: recordingLogger().log, host }).replay()).toEqual({ registered: 1, removed: 0, skipped: 0, bad: 0 });
    expect(registry.get("c1")).toBeDefined();
    expect(readdirSync(dir)).toEqual([]);
  });

  test.each([
    ["cut short", 40, "bytes where its name says"],
    ["empty (killed between open and write)", 0, "0 bytes where its name says"],
  ])("removes a temp file of a dead hook that is %s, with a warning, and registers nothing", async (_name, keep, warning) => {
    const name = leaveTemp(add(T0), HOOK, keep);
    const registry = new Registry();
    const logs = recordingLogger();
    const host = fakeHost(new Map([[4242, NS]]), new Map([[name, TMP_SETTLE_MS]]));
    expect(await new Spool({ dir, registry, log: logs.log, host }).replay()).toEqual({ registered: 0, removed: 0, skipped: 0, bad: 1 });
    expect(registry.size).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
    expect(logs.records.some((r) => r.level === "warn" && r.msg.includes("a hook was killed before its event was whole") && r.msg.includes(warning))).toBe(
      true,
    );
  });

  test("removes a temp file of a dead hook holding the named number of bytes that are not JSON, with a warning", async () => {
    const size = Buffer.byteLength(`${JSON.stringify(add(T0))}\n`);
    const name = `${SPOOL_TMP_PREFIX}${spoolFileName(T0, HOOK, 1, size)}`;
    writeFileSync(join(dir, name), "\0".repeat(size));
    const registry = new Registry();
    const logs = recordingLogger();
    const host = fakeHost(new Map([[4242, NS]]), new Map([[name, TMP_SETTLE_MS]]));
    expect(await new Spool({ dir, registry, log: logs.log, host }).replay()).toEqual({ registered: 0, removed: 0, skipped: 0, bad: 1 });
    expect(registry.size).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
    expect(logs.records.some((r) => r.level === "warn" && r.msg.includes("a hook was killed before its event was whole"))).toBe(true);
  });

  test.each([
    ["a recovered add, then a complete remove: the remove wins", "add", false],
    ["a complete remove, then a recovered add: the add wins", "remove", true],
  ])("replays in name order with complete files — %s", async (_name, first, held) => {
    const [addAt, removeAt] = first === "add" ? [T0 + 1_000_000, T0 + 2_000_000] : [T0 + 2_000_000, T0 + 1_000_000];
    const name = leaveTemp(add(addAt));
    await spoolAll(remove(removeAt));
    // The registry's clock stands between the two events: a remove after the add is not "older than the container".
    const registry = new Registry(() => new Date((T0 + 1_500_000) / 1000));
    const events: string[] = [];
    registry.subscribe((e) => events.push(e.event));
    const host = fakeHost(new Map([[4242, NS]]), new Map([[name, TMP_SETTLE_MS]]));
    const report = await new Spool({ dir, registry, log: recordingLogger().log, host }).replay();
    expect(report).toEqual({ registered: 1, removed: 1, skipped: 0, bad: 0 });
    expect(registry.get("c1") !== undefined).toBe(held);
    expect(events).toEqual(first === "add" ? ["add", "remove"] : ["add"]);
    expect(readdirSync(dir)).toEqual([]);
  });
});
