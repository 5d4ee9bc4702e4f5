import { afterEach, describe, expect, test } from "bun:test";
import { readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errnoOf } from "../../lib/errors.ts";
import * as sys from "../../lib/syscall.ts";
import { tempDir, removeDir } from "../e2e/support.ts";

const SYSCALL = join(import.meta.dir, "../../lib/syscall.ts");

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeDir(dir);
});
function scratch(): string {
  const dir = tempDir("syscall");
  dirs.push(dir);
  return dir;
}

describe("lib/syscall.ts", () => {
  test("stat() follows a namespace link to the namespace's inode, as readlink shows it", () => {
    const link = `/proc/${process.pid}/ns/mnt`;
    expect(`mnt:[${sys.stat(link).ino}]`).toBe(readlinkSync(link));
  });

  test("stat() gives the inode, size and mode node:fs gives", () => {
    const file = join(scratch(), "f");
    writeFileSync(file, "x".repeat(1234), { mode: 0o640 });
    const node = statSync(file);
    expect(sys.stat(file)).toEqual({ ino: node.ino, size: 1234, mode: node.mode });
  });

  test("a failed call throws its errno's name, which errnoOf() reads", () => {
    const missing = join(scratch(), "missing");
    expect(() => sys.openRead(missing)).toThrow(`openat ${missing}: ENOENT`);
    let thrown: unknown;
    try {
      sys.stat(missing);
    } catch (err) {
      thrown = err;
    }
    expect(errnoOf(thrown)).toBe("ENOENT");
  });

  test("a path with a NUL byte is refused, never truncated to another file", () => {
    expect(() => sys.openRead("/etc/hostname\0/x")).toThrow("EINVAL");
  });

  test("openRead() + readInto() read a file whole, at an offset, until 0 at its end", () => {
    const file = join(scratch(), "f");
    writeFileSync(file, "hello world");
    const fd = sys.openRead(file);
    try {
      const buffer = new Uint8Array(16);
      expect(sys.readInto(fd, buffer, 0)).toBe(11);
      expect(sys.readInto(fd, buffer, 11)).toBe(0);
      expect(new TextDecoder().decode(buffer.subarray(0, 11))).toBe("hello world");
      expect(sys.readInto(fd, buffer, 16)).toBe(0);
    } finally {
      sys.close(fd);
    }
  });

  test("waitReadable() times out on a pipe nobody writes, and returns at once when it ended", async () => {
    const script = `const sys = await import(${JSON.stringify(SYSCALL)}); process.stdout.write(String(sys.waitReadable(0, 50)));`;
    const silent = Bun.spawn([process.execPath, "-e", script], { stdin: "pipe", stdout: "pipe" });
    expect(await new Response(silent.stdout).text()).toBe("false");
    silent.stdin.end();
    await silent.exited;
    const ended = Bun.spawn([process.execPath, "-e", script], { stdin: new Uint8Array(0), stdout: "pipe" });
    expect(await new Response(ended.stdout).text()).toBe("true");
    await ended.exited;
  });

  test("connectUnix() talks to a listening socket; a missing one is ENOENT", async () => {
    const socket = join(scratch(), "s.sock");
    const server = Bun.listen({
      unix: socket,
      socket: {
        data: (s, chunk) => {
          s.write(chunk);
          s.end();
        },
      },
    });
    try {
      // The calls block, and the server answers on this process's event loop: the client is a child.
      const child = Bun.spawn(
        [
          process.execPath,
          "-e",
          `const sys = await import(${JSON.stringify(SYSCALL)});
           const fd = sys.connectUnix(${JSON.stringify(socket)}, 2000);
           sys.writeAll(fd, new TextEncoder().encode("ping"));
           const buffer = new Uint8Array(8);
           if (!sys.waitReadable(fd, 2000)) throw new Error("no echo");
           const n = sys.readInto(fd, buffer);
           process.stdout.write(new TextDecoder().decode(buffer.subarray(0, n)));`,
        ],
        { stdout: "pipe", stderr: "pipe" },
      );
      const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      expect({ out, err, code }).toEqual({ out: "ping", err: "", code: 0 });
    } finally {
      server.stop(true);
    }
    expect(() => sys.connectUnix(join(scratch(), "none.sock"), 100)).toThrow("ENOENT");
    expect(() => sys.connectUnix(`/${"x".repeat(200)}`, 100)).toThrow("ENAMETOOLONG");
  });

  test("mapFile() + lock() make a file's pages resident, residentPages() sees them", () => {
    const file = join(scratch(), "f");
    const pageSize = 4096;
    writeFileSync(file, Buffer.alloc(pageSize * 4, 7));
    const fd = sys.openRead(file);
    const length = pageSize * 4;
    const address = sys.mapFile(fd, length);
    try {
      sys.lock(address, pageSize * 2);
      const resident = sys.residentPages(address, length, pageSize);
      expect(resident.length).toBe(4);
      expect([resident[0]! & 1, resident[1]! & 1]).toEqual([1, 1]);
      sys.unlock(address, pageSize * 2);
    } finally {
      sys.unmap(address, length);
      sys.close(fd);
    }
  });
});
