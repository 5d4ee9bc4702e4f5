import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { prepareSocketPath, restrictSocket } from "../../lib/agent/socket-path.ts";
import { Registry } from "../../lib/registry.ts";
import { serve } from "../../lib/agent/server.ts";
import { recordingLogger, rejectionOf, tempDir } from "./_fixtures.ts";

let tmp: { dir: string; remove: () => void };
const listeners: Array<UnixSocketListener<unknown>> = [];

beforeEach(() => {
  tmp = tempDir();
});

afterEach(() => {
  for (const listener of listeners.splice(0)) listener.stop(true);
  tmp.remove();
});

/** Leaves a socket file nobody listens on, as a killed agent does. */
function staleSocket(path: string): void {
  const live = `${path}.live`;
  const listener = Bun.listen({ unix: live, socket: { data() {} } });
  // Bun unlinks the path it listened on when stopping; the renamed file survives.
  renameSync(live, path);
  listener.stop(true);
}

describe("prepareSocketPath()", () => {
  test("creates a missing socket directory with mode 0700", async () => {
    const socket = join(tmp.dir, "run", "armor", "armor.sock");
    await prepareSocketPath(socket, recordingLogger().log);
    expect(statSync(join(tmp.dir, "run", "armor")).mode & 0o777).toBe(0o700);
    expect(existsSync(socket)).toBe(false);
  });

  test("accepts an existing 0755 directory without a socket, and makes it 0700", async () => {
    const dir = join(tmp.dir, "armor");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    await prepareSocketPath(join(dir, "armor.sock"), recordingLogger().log);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test("refuses a socket directory owned by another user with E_SOCKET", async () => {
    const dir = join(tmp.dir, "theirs");
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 4321, 4321);
    const error = await rejectionOf(prepareSocketPath(join(dir, "armor.sock"), recordingLogger().log));
    expect(error.code).toBe("E_SOCKET");
    expect(error.message).toBe(`socket directory ${dir} is owned by uid 4321, not by the agent's uid: its owner could replace the socket`);
  });

  test.each([0o775, 0o757, 0o777, 0o1777])("refuses a socket directory of mode %o with E_SOCKET", async (mode) => {
    const dir = join(tmp.dir, "shared");
    mkdirSync(dir);
    chmodSync(dir, mode);
    const err = await rejectionOf(prepareSocketPath(join(dir, "armor.sock"), recordingLogger().log));
    expect(err.code).toBe("E_SOCKET");
    expect(err.message).toBe(`socket directory ${dir} is writable by group or others (mode ${(mode & 0o777).toString(8)}): anyone could replace the socket`);
  });

  test("refuses a path that exists and is not a socket, and leaves it alone", async () => {
    const path = join(tmp.dir, "armor.sock");
    writeFileSync(path, "precious");
    const err = await rejectionOf(prepareSocketPath(path, recordingLogger().log));
    expect(err.code).toBe("E_SOCKET");
    expect(err.message).toBe(`${path} exists and is not a socket; refusing to replace it`);
    expect(await Bun.file(path).text()).toBe("precious");
  });

  test("refuses when the socket directory cannot be created", async () => {
    const blocker = join(tmp.dir, "file");
    writeFileSync(blocker, "");
    const err = await rejectionOf(prepareSocketPath(join(blocker, "armor.sock"), recordingLogger().log));
    expect(err.code).toBe("E_SOCKET");
    expect(err.message).toMatch(/^cannot create socket directory .*\/file: E[A-Z]+$/);
  });

  test("removes a stale socket left by an agent that is gone, and logs it", async () => {
    const path = join(tmp.dir, "armor.sock");
    staleSocket(path);
    expect(lstatSync(path).isSocket()).toBe(true);
    const logs = recordingLogger();
    await prepareSocketPath(path, logs.log);
    expect(existsSync(path)).toBe(false);
    expect(logs.records).toEqual([{ level: "info", msg: "removing stale socket left by a previous agent", fields: { socket: path } }]);
  });

  test("refuses when another agent answers on the socket, and leaves it serving", async () => {
    const path = join(tmp.dir, "armor.sock");
    const registry = new Registry();
    listeners.push(serve({ socketPath: path, registry, info: { version: "t", startedAt: new Date() }, log: recordingLogger().log }));
    const err = await rejectionOf(prepareSocketPath(path, recordingLogger().log));
    expect(err.code).toBe("E_SOCKET");
    expect(err.message).toBe(`another agent is already serving on ${path}`);
    expect(lstatSync(path).isSocket()).toBe(true);
  });

  test("refuses when something that is not an agent accepts connections", async () => {
    const path = join(tmp.dir, "armor.sock");
    listeners.push(
      Bun.listen({
        unix: path,
        socket: {
          data(socket) {
            socket.write("not a frame at all, just text");
          },
        },
      }),
    );
    const err = await rejectionOf(prepareSocketPath(path, recordingLogger().log));
    expect(err.code).toBe("E_SOCKET");
    expect(lstatSync(path).isSocket()).toBe(true);
  });
});

describe("restrictSocket()", () => {
  test("makes the socket owner-only", () => {
    const path = join(tmp.dir, "s.sock");
    const previous = process.umask(0);
    try {
      listeners.push(Bun.listen({ unix: path, socket: { data() {} } }));
    } finally {
      process.umask(previous);
    }
    restrictSocket(path);
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
  });
});
