import { describe, expect, test } from "bun:test";
import { NAMESPACE_KINDS } from "../../lib/container.ts";
import type { ReadLink } from "../../lib/proc/namespaces.ts";
import { readNamespaces } from "../../lib/proc/namespaces.ts";
import { armorErrorOf } from "./_fixtures.ts";

const errno = (code: string): Error => Object.assign(new Error(`${code}: fake`), { code });

/** A ReadLink over a fake /proc/<pid>/ns; `missing` kinds fail with `failure`. */
function fakeProc(pid: number, links: Partial<Record<string, string>>, failure = "ENOENT"): { readLink: ReadLink; asked: string[] } {
  const asked: string[] = [];
  const readLink: ReadLink = (path) => {
    asked.push(path);
    const kind = path.slice(`/proc/${pid}/ns/`.length);
    const target = path.startsWith(`/proc/${pid}/ns/`) ? links[kind] : undefined;
    if (target === undefined) throw errno(failure);
    return target;
  };
  return { readLink, asked };
}

const allLinks = Object.fromEntries(NAMESPACE_KINDS.map((kind, i) => [kind, `${kind}:[${4026531835 + i}]`]));

describe("readNamespaces()", () => {
  test("reads the inode of every namespace kind", () => {
    const { readLink, asked } = fakeProc(42, allLinks);
    expect(readNamespaces(42, readLink)).toEqual({
      pid: 4026531835,
      mnt: 4026531836,
      net: 4026531837,
      uts: 4026531838,
      ipc: 4026531839,
      cgroup: 4026531840,
      user: 4026531841,
      time: 4026531842,
    });
    expect(asked).toEqual(NAMESPACE_KINDS.map((kind) => `/proc/42/ns/${kind}`));
  });

  test("reads under another proc root", () => {
    const asked: string[] = [];
    readNamespaces(
      7,
      (path) => {
        asked.push(path);
        return "x:[1]";
      },
      "/host/proc",
    );
    expect(asked[0]).toBe("/host/proc/7/ns/pid");
  });

  test("leaves out a kind the kernel lacks (time before Linux 5.6)", () => {
    const { time: _time, ...links } = allLinks;
    const namespaces = readNamespaces(42, fakeProc(42, links).readLink);
    expect(namespaces.time).toBeUndefined();
    expect("time" in namespaces).toBe(false);
    expect(namespaces.pid).toBe(4026531835);
  });

  test.each(["pid", "mnt"])("refuses with E_PROCESS_GONE when the %s link is missing", (kind) => {
    const links = { ...allLinks };
    delete links[kind];
    const err = armorErrorOf(() => readNamespaces(42, fakeProc(42, links).readLink));
    expect(err.code).toBe("E_PROCESS_GONE");
    expect(err.message).toBe(`process 42 no longer exists (/proc/42/ns/${kind}: ENOENT)`);
  });

  test("refuses with E_PROCESS_GONE when the process vanished (ESRCH)", () => {
    const { readLink } = fakeProc(42, { pid: "pid:[1]" }, "ESRCH");
    expect(armorErrorOf(() => readNamespaces(42, readLink)).message).toBe("process 42 no longer exists (/proc/42/ns/mnt: ESRCH)");
  });

  test("refuses with E_PROCESS_GONE naming the errno of another read failure", () => {
    const err = armorErrorOf(() => readNamespaces(42, fakeProc(42, {}, "EACCES").readLink));
    expect(err.code).toBe("E_PROCESS_GONE");
    expect(err.message).toBe("cannot read /proc/42/ns/pid: EACCES");
  });

  test.each(["pid:4026531835", "pid:[]", "pid:[abc]", "[4026531835]", "", "pid:[1] ", "/proc/1/ns/pid"])("refuses a malformed link target %p", (target) => {
    const err = armorErrorOf(() => readNamespaces(42, fakeProc(42, { ...allLinks, pid: target }).readLink));
    expect(err.code).toBe("E_PROCESS_GONE");
    expect(err.message).toBe(`/proc/42/ns/pid: unexpected link target "${target}"`);
  });
});
