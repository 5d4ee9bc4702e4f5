/**
 * The agent keeps the compiled hook's pages resident: learnt from a real run of dist/armor-hook,
 * locked in the agent's own mapping, locked again when the binary changes, let go at stop.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { read as readMemory, type Pointer } from "bun:ffi";
import { copyFileSync, existsSync, lstatSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { interpreterOf, mergeRanges, probeTouchedFiles, WarmPages, type Range } from "../../lib/agent/warm-pages.ts";
import type { Level } from "../../lib/log.ts";
import * as sys from "../../lib/syscall.ts";
import { AgentProcess, HOOK, removeDir, tempDir, waitFor } from "./support.ts";

const dirs: string[] = [];
const agents: AgentProcess[] = [];
afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.stop();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

/** A copy of the compiled hook in a fresh directory (the test changes and removes it). */
function hookCopy(): string {
  const dir = tempDir("warm");
  dirs.push(dir);
  const binary = join(dir, "armor-hook");
  copyFileSync(HOOK, binary);
  return binary;
}

/** Whether every page of `ranges` of `path` is in the page cache now. */
function resident(path: string, ranges: readonly Range[]): boolean {
  const fd = sys.openRead(path);
  const size = sys.stat(path).size;
  const address = sys.mapFile(fd, size);
  try {
    const pages = sys.residentPages(address, size, 4096);
    return ranges.every((r) => {
      for (let page = r.offset / 4096; page < (r.offset + r.length) / 4096; page++) if (((pages[page] ?? 0) & 1) === 0) return false;
      return true;
    });
  } finally {
    sys.unmap(address, size);
    sys.close(fd);
  }
}

/**
 * The share of the resident pages in `ranges` of `path` that are part of a large folio (a
 * compound page: /proc/kpageflags bits 15 and 16), or undefined when the kernel does not show it.
 */
function largeFolioShare(path: string, ranges: readonly Range[]): number | undefined {
  let pagemap: number;
  let flags: number;
  try {
    pagemap = sys.openRead("/proc/self/pagemap");
    flags = sys.openRead("/proc/kpageflags");
  } catch {
    return undefined;
  }
  const fd = sys.openRead(path);
  const size = sys.stat(path).size;
  const address = sys.mapFile(fd, size);
  try {
    const word = new BigUint64Array(1);
    const bytes = new Uint8Array(word.buffer);
    let seen = 0;
    let large = 0;
    for (const r of ranges) {
      for (let offset = r.offset; offset < r.offset + r.length; offset += 4096) {
        // Mapped here by reading a byte of it (the locked ranges are in the page cache, so no disk read).
        readMemory.u8((address + offset) as Pointer, 0);
        sys.readAt(pagemap, bytes, ((address + offset) / 4096) * 8);
        const pfn = word[0]! & ((1n << 55n) - 1n);
        if (pfn === 0n) return undefined; // PFNs hidden
        sys.readAt(flags, bytes, Number(pfn) * 8);
        seen++;
        if ((word[0]! & ((1n << 15n) | (1n << 16n))) !== 0n) large++;
      }
    }
    return seen === 0 ? undefined : large / seen;
  } finally {
    sys.unmap(address, size);
    for (const open of [fd, pagemap, flags]) sys.close(open);
  }
}

describe("mergeRanges()", () => {
  test.each<{ ranges: Range[]; size: number; merged: Range[] }>([
    { ranges: [], size: 100_000, merged: [] },
    { ranges: [{ offset: 4096, length: 4096 }], size: 100_000, merged: [{ offset: 4096, length: 4096 }] },
    // Unaligned ranges grow to whole pages; touching and overlapping ones become one.
    { ranges: [{ offset: 5000, length: 10 }], size: 100_000, merged: [{ offset: 4096, length: 4096 }] },
    {
      ranges: [
        { offset: 8192, length: 4096 },
        { offset: 0, length: 4096 },
        { offset: 4096, length: 4096 },
        { offset: 40960, length: 8192 },
        { offset: 45056, length: 4096 },
      ],
      size: 100_000,
      merged: [
        { offset: 0, length: 12288 },
        { offset: 40960, length: 8192 },
      ],
    },
    // Never past the end of the file.
    { ranges: [{ offset: 8192, length: 8192 }], size: 10_000, merged: [{ offset: 8192, length: 1808 }] },
  ])("$ranges.length ranges in $size bytes", ({ ranges, size, merged }) => {
    expect(mergeRanges(ranges, size)).toEqual(merged);
  });

  test("to whole 2 MiB folios: ranges in one become it, ranges across two become both", () => {
    const MiB = 1024 * 1024;
    const ranges = [
      { offset: 4096, length: 4096 },
      { offset: MiB, length: 4096 },
      { offset: 6 * MiB - 4096, length: 8192 },
    ];
    expect(mergeRanges(ranges, 100 * MiB, 2 * MiB)).toEqual([
      { offset: 0, length: 2 * MiB },
      { offset: 4 * MiB, length: 4 * MiB },
    ]);
  });
});

describe("WarmPages", () => {
  test("learns the pages a run of the hook touches: some MB of the binary, with its loader and libc", async () => {
    const binary = hookCopy();
    const files = await probeTouchedFiles(binary);
    expect(files[0]?.path).toBe(binary);
    const bytes = (files[0]?.ranges ?? []).reduce((sum, r) => sum + r.length, 0);
    expect(bytes).toBeGreaterThan(4 * 1024 * 1024);
    expect(bytes).toBeLessThan(sys.stat(binary).size);
    expect(files.some((file) => /\/libc\.so/.test(file.path))).toBe(true);
  });

  test("locks them, locks the new binary's when it changes, and lets go at stop", async () => {
    const binary = hookCopy();
    const logged: [Level, string][] = [];
    const warm = new WarmPages({ binary, log: (level, msg) => logged.push([level, msg]), checkEveryMs: 60_000 });
    await warm.start();
    try {
      expect(warm.lockedBytes).toBeGreaterThan(4 * 1024 * 1024);
      const first = warm.locked[0];
      expect(first?.path).toBe(binary);
      expect(resident(binary, first?.ranges ?? [])).toBe(true);
      expect(logged).toContainEqual(["info", "hook binary's pages kept resident"]);
      // On a merged /usr (this machine: /lib64 -> usr/lib64), the loader's path goes through symlinks.
      if (lstatSync("/lib64", { throwIfNoEntry: false })?.isSymbolicLink()) expect(warm.heldNames).toBeGreaterThan(0);

      // An install replaces the binary: a new file at the same path.
      rmSync(binary);
      copyFileSync(HOOK, binary);
      const before = logged.length;
      await warm.refresh();
      expect(logged.slice(before)).toEqual([["info", "hook binary's pages kept resident"]]);
      expect(warm.lockedBytes).toBeGreaterThan(4 * 1024 * 1024);

      // Gone: nothing held, said once however often it is checked.
      rmSync(binary);
      await warm.refresh();
      await warm.refresh();
      expect(warm.lockedBytes).toBe(0);
      expect(logged.slice(before + 1).map(([level]) => level)).toEqual(["info"]);
    } finally {
      warm.stop();
    }
    expect(warm.lockedBytes).toBe(0);
  });

  test("locks the binary in whole 2 MiB extents, read back in large reads: what it pins is what it counts", async () => {
    const binary = hookCopy();
    const size = sys.stat(binary).size;
    // Evicted, as memory pressure leaves an idle node's hook: the learning runs fault pages back in.
    const fd = sys.openRead(binary);
    sys.dropCachedPages(fd);
    sys.close(fd);
    const warm = new WarmPages({ binary, log: () => {}, checkEveryMs: 60_000 });
    await warm.start();
    try {
      const [first, ...others] = warm.locked;
      const ranges = first?.ranges ?? [];
      const MiB = 1024 * 1024;
      expect(ranges.length).toBeGreaterThan(0);
      for (const r of ranges) {
        expect(r.offset % (2 * MiB)).toBe(0);
        expect(r.length % (2 * MiB) === 0 || r.offset + r.length === size).toBe(true);
      }
      const sum = (rs: readonly Range[]) => rs.reduce((total, r) => total + r.length, 0);
      expect(warm.lockedBytes).toBe(sum(ranges) + others.reduce((total, file) => total + sum(file.ranges), 0));
      // The page cache holds them as large folios (where the kernel shows its pages: root, /proc/kpageflags).
      const share = largeFolioShare(binary, ranges);
      if (share !== undefined) expect(share).toBeGreaterThan(0.5);
    } finally {
      warm.stop();
    }
  });

  test("a bound on what is locked is kept", async () => {
    const binary = hookCopy();
    const warm = new WarmPages({ binary, log: () => {}, maxBytes: 1024 * 1024, checkEveryMs: 60_000 });
    await warm.start();
    try {
      expect(warm.lockedBytes).toBe(1024 * 1024);
    } finally {
      warm.stop();
    }
  });

  test("a binary that is not a hook is reported, and nothing is locked", async () => {
    const logged: [Level, string][] = [];
    const warm = new WarmPages({ binary: "/bin/true", log: (level, msg) => logged.push([level, msg]), checkEveryMs: 60_000 });
    await warm.start();
    warm.stop();
    expect(warm.lockedBytes).toBe(0);
    expect(logged).toHaveLength(1);
    expect(logged[0]?.[0]).toBe("warn");
    expect(logged[0]?.[1]).toContain("the learning run never asked");
  });
});

describe("interpreterOf()", () => {
  test("names the dynamic loader the compiled hook asks for, and nothing for a file that is not ELF", () => {
    const loader = interpreterOf(HOOK);
    expect(loader).toStartWith("/");
    expect(existsSync(loader ?? "")).toBe(true);
    const dir = tempDir("warm-elf");
    dirs.push(dir);
    writeFileSync(join(dir, "script"), "#!/bin/sh\n");
    expect(interpreterOf(join(dir, "script"))).toBeUndefined();
  });
});

describe("armor-agent serve --hook-binary", () => {
  test("keeps the hook's pages resident; --no-warm-hook does not", async () => {
    const binary = hookCopy();
    const dir = tempDir("warm-agent");
    dirs.push(dir);
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const agent = await AgentProcess.start(join(dir, "on", "armor.sock"), ["--hook-binary", binary, "--metrics", `127.0.0.1:${port}`]);
    agents.push(agent);
    await waitFor("the agent to lock the hook's pages", () => agent.log.includes("hook binary's pages kept resident"));
    // What it holds is counted where the agent's memory is watched.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const locked = Number(/^armor_hook_pages_locked_bytes (\d+)$/m.exec(metrics)?.[1]);
    expect(locked).toBeGreaterThan(4 * 1024 * 1024);
    const off = await AgentProcess.start(join(dir, "off", "armor.sock"), ["--hook-binary", binary, "--no-warm-hook"]);
    agents.push(off);
    await Bun.sleep(200);
    expect(off.log).not.toContain("kept resident");
  });
});
