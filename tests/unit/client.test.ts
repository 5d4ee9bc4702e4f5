import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Socket, UnixSocketListener } from "bun";
import { join } from "node:path";
import { AgentClient, callAgent } from "../../lib/client.ts";
import { Registry } from "../../lib/registry.ts";
import { serve } from "../../lib/agent/server.ts";
import { encodeFrame } from "../../lib/wire/frame.ts";
import { recordingLogger, rejectionOf, tempDir } from "./_fixtures.ts";

let tmp: { dir: string; remove: () => void };
let socket: string;
const listeners: Array<UnixSocketListener<unknown>> = [];

beforeEach(() => {
  tmp = tempDir();
  socket = join(tmp.dir, "agent.sock");
});

afterEach(() => {
  for (const listener of listeners.splice(0)) listener.stop(true);
  tmp.remove();
});

/** A fake agent that answers every chunk with `reply` (or stays silent). */
function fakeAgent(reply: ((socket: Socket<undefined>) => void) | undefined): void {
  listeners.push(Bun.listen<undefined>({ unix: socket, socket: { data: (s) => reply?.(s) } }));
}

describe("callAgent()", () => {
  test("fails with E_AGENT_UNREACHABLE when nothing listens", async () => {
    const err = await rejectionOf(callAgent({ socket, timeoutMs: 500 }, { op: "ping" }));
    expect(err.code).toBe("E_AGENT_UNREACHABLE");
    expect(err.message).toMatch(new RegExp(`^cannot reach agent at ${socket}: E[A-Z]+$`));
  });

  test("fails with E_AGENT_TIMEOUT when the agent never answers", async () => {
    fakeAgent(undefined);
    const started = Date.now();
    const err = await rejectionOf(callAgent({ socket, timeoutMs: 100 }, { op: "ping" }));
    expect(err.code).toBe("E_AGENT_TIMEOUT");
    expect(err.message).toContain('did not answer "ping" within 100 ms');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test("reports a framing error from a peer that is not an agent, not 'unreachable'", async () => {
    fakeAgent((s) => s.write("HTTP/1.1 400 Bad Request\r\n\r\n"));
    const err = await rejectionOf(callAgent({ socket, timeoutMs: 1000 }, { op: "ping" }));
    expect(err.code).toBe("E_FRAME_TOO_LARGE");
  });

  test("reports an answer that breaks the schema as E_PROTOCOL", async () => {
    fakeAgent((s) => s.write(encodeFrame({ v: 1, id: 1, ok: "yes" })));
    const err = await rejectionOf(callAgent({ socket, timeoutMs: 1000 }, { op: "ping" }));
    expect(err.code).toBe("E_PROTOCOL");
    expect(err.message).toMatch(/^answer from agent: /);
  });

  test("reports an answer of another protocol version as E_PROTOCOL", async () => {
    fakeAgent((s) => s.write(encodeFrame({ v: 2, id: 1, ok: true, result: {} })));
    expect((await rejectionOf(callAgent({ socket, timeoutMs: 1000 }, { op: "ping" }))).code).toBe("E_PROTOCOL");
  });

  test("reports an error answer without a request id as E_AGENT_REJECTED", async () => {
    fakeAgent((s) => {
      s.write(encodeFrame({ v: 1, id: null, ok: false, error: { code: "E_PROTOCOL", message: "too many connections (limit 1)" } }));
      s.end();
    });
    const err = await rejectionOf(callAgent({ socket, timeoutMs: 1000 }, { op: "ping" }));
    expect(err.code).toBe("E_AGENT_REJECTED");
    expect(err.message).toBe("agent: too many connections (limit 1)");
  });

  test("reports an agent that closes without answering as E_AGENT_UNREACHABLE", async () => {
    fakeAgent((s) => s.end());
    const err = await rejectionOf(callAgent({ socket, timeoutMs: 1000 }, { op: "ping" }));
    expect(err.code).toBe("E_AGENT_UNREACHABLE");
    expect(err.message).toBe("agent closed the connection before answering");
  });

  test("reports an agent at its connection limit as E_AGENT_UNREACHABLE, so fail-open applies", async () => {
    const registry = new Registry();
    listeners.push(
      serve({ socketPath: socket, registry, info: { version: "t", startedAt: new Date() }, log: recordingLogger().log, limits: { maxConnections: 1 } }),
    );
    const holder = await AgentClient.connect({ socket, timeoutMs: 1000 });
    try {
      await holder.request({ op: "ping" });
      const err = await rejectionOf(callAgent({ socket, timeoutMs: 1000 }, { op: "ping" }));
      expect(err.code).toBe("E_AGENT_UNREACHABLE");
      expect(err.message).toBe(`agent at ${socket} is busy: too many connections (limit 1)`);
    } finally {
      holder.close();
    }
  });
});

describe("AgentClient", () => {
  test("matches answers to requests by id, whatever order they come in", async () => {
    fakeAgent((s) => {
      // Answer both requests of the chunk(s) in reverse order, once both arrived.
      s.write(Buffer.concat([encodeFrame({ v: 1, id: 2, ok: true, result: "second" }), encodeFrame({ v: 1, id: 1, ok: true, result: "first" })]));
    });
    const client = await AgentClient.connect({ socket, timeoutMs: 1000 });
    try {
      const [a, b] = await Promise.all([client.request({ op: "ping" }), client.request({ op: "list" })]);
      expect([a, b]).toEqual(["first", "second"]);
    } finally {
      client.close();
    }
  });

  test("rejects a request on a closed client", async () => {
    fakeAgent(undefined);
    const client = await AgentClient.connect({ socket, timeoutMs: 1000 });
    client.close();
    expect((await rejectionOf(client.request({ op: "ping" }))).message).toBe("connection to agent is closed");
  });
});
