import { describe, expect, test } from "bun:test";
import { parseCgroupFile, readCgroup, readCgroupSync } from "../../lib/proc/cgroup.ts";

const errno = (code: string): Error => Object.assign(new Error(code), { code });

describe("parseCgroupFile()", () => {
  test.each([
    ["a hybrid host (v1 controllers and the unified line)", "4:memory:/c1\n1:name=systemd:/c1\n0::/c1\n", { path: "/c1", mount: "/sys/fs/cgroup/unified" }],
    ["a cgroup v2 host (the 0:: line alone)", "0::/kubepods/besteffort/pod1/c1\n", { path: "/kubepods/besteffort/pod1/c1", mount: "/sys/fs/cgroup" }],
    ["the root cgroup", "0::/\n", { path: "/", mount: "/sys/fs/cgroup" }],
    ["a pure cgroup v1 host (no 0:: line)", "4:memory:/c1\n1:name=systemd:/c1\n", undefined],
    ["an empty file", "", undefined],
    ["a relative path", "0::c1\n", undefined],
    ["a path longer than a record's strings may be", `0::/${"x".repeat(4096)}\n`, undefined],
  ])("%s", (_what, text, expected) => {
    expect(parseCgroupFile(text)).toEqual(expected);
  });
});

describe("readCgroupSync()", () => {
  const statIno = (path: string): number => {
    if (path === "/sys/fs/cgroup/c7") return 777;
    throw errno("ENOENT");
  };

  test("reads the file and stats the directory", () => {
    const readFile = (path: string) => (path === "/proc/7/cgroup" ? "0::/c7\n" : "");
    expect(readCgroupSync(7, readFile, statIno)).toEqual({ path: "/c7", id: 777 });
  });

  test("has no id when the directory cannot be looked at", () => {
    expect(readCgroupSync(8, (path: string) => (path === "/proc/8/cgroup" ? "0::/c8\n" : ""), statIno)).toEqual({ path: "/c8", id: null });
  });

  test("is null when the file cannot be read", () => {
    const readFile = (): string => {
      throw errno("ENOENT");
    };
    expect(readCgroupSync(7, readFile, () => 1)).toBeNull();
  });
});

describe("readCgroup()", () => {
  const files: Record<string, string> = { "/proc/7/cgroup": "4:memory:/c7\n0::/c7\n" };
  const readText = async (path: string): Promise<string> => {
    const text = files[path];
    if (text === undefined) throw errno("ENOENT");
    return text;
  };

  test("reads the path, and the id as the inode of that directory under the cgroup2 mount: one read, one stat", async () => {
    const stats: string[] = [];
    const statIno = (path: string): number => {
      stats.push(path);
      return 4242;
    };
    expect(await readCgroup(7, { readText, statIno })).toEqual({ path: "/c7", id: 4242 });
    expect(stats).toEqual(["/sys/fs/cgroup/unified/c7"]);
  });

  test("gives a null id when the cgroup2 directory cannot be looked at (no cgroup2 mounted)", async () => {
    const statIno = (): number => {
      throw errno("ENOENT");
    };
    expect(await readCgroup(7, { readText, statIno })).toEqual({ path: "/c7", id: null });
  });

  test("is null when the process shows no cgroup at all", async () => {
    expect(await readCgroup(8, { readText, statIno: () => 1 })).toBeNull();
  });
});
