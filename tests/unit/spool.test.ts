import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Spool, type SpoolHost } from "../../lib/agent/spool.ts";
import { writeSpool } from "../../lib/hook/spool.ts";
import { Registry } from "../../lib/registry.ts";
import {
  defaultSpoolDir,
  MAX_SPOOL_BYTES,
  MAX_SPOOL_ENTRY_BYTES,
  MAX_SPOOL_FILES,
  parseSpoolFileName,
  spoolFileName,
  type SpoolRecord,
} from "../../lib/spool-format.ts";
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
    expect(parseSpoolFileName(early)).toEqual({ atMicros: 999, bytes: 12 });
  });

  test.each([".tmp-0000000000000999-7-00000abc-12.json", "notes.txt", "0000000000000999-7-xyz-12.json", "999-7-00000abc-12.json"])(
    "are not confused with %s",
    (name) => {
      expect(parseSpoolFileName(name)).toBeUndefined();
    },
  );

  test.each([
    ["/run/armor/armor.sock", "/run/armor/spool"],
    ["/armor.sock", "/spool"],
    ["armor.sock", "./spool"],
  ])("defaultSpoolDir(%s) is %s", (socket, expected) => {
    expect(defaultSpoolDir(socket)).toBe(expected);
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

/** A host whose live processes are a table: pid → (pidns, mntns). */
function fakeHost(live: Map<number, { pid: number; mnt: number }>, ages: Map<string, number> = new Map()): SpoolHost {
  return {
    readDir: (path) => readdirSync(path),
    readText: async (path) => readFileSync(path, "utf8"),
    remove: (path) => Bun.spawnSync(["rm", "-f", path]),
    ageMs: (path) => ages.get(path.slice(path.lastIndexOf("/") + 1)) ?? 0,
    processNamespaces: (pid) => live.get(pid),
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

  test("leaves a temp file being written, removes one a dead hook left, and ignores strays", async () => {
    const fresh = `.tmp-${spoolFileName(1, 1, 1, 1)}`;
    const stale = `.tmp-${spoolFileName(2, 2, 2, 1)}`;
    for (const name of [fresh, stale, "README"]) writeFileSync(join(dir, name), "{");
    const host = fakeHost(
      new Map(),
      new Map([
        [fresh, 1000],
        [stale, 120_000],
      ]),
    );
    expect(await new Spool({ dir, registry: new Registry(), log: recordingLogger().log, host }).replay()).toEqual({
      registered: 0,
      removed: 0,
      skipped: 0,
      bad: 0,
    });
    expect(readdirSync(dir).sort()).toEqual([fresh, "README"].sort());
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

  test("prepare() creates the directory 0700, and makes an existing one 0700", () => {
    const fresh = join(tmp.dir, "fresh");
    new Spool({ dir: fresh, registry: new Registry(), log: recordingLogger().log }).prepare();
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
    mkdirSync(join(tmp.dir, "loose"), { mode: 0o755 });
    new Spool({ dir: join(tmp.dir, "loose"), registry: new Registry(), log: recordingLogger().log }).prepare();
    expect(statSync(join(tmp.dir, "loose")).mode & 0o777).toBe(0o700);
  });
});
