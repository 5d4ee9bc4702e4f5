import { describe, expect, test } from "bun:test";
import { ArmorError } from "../../lib/errors.ts";
import { fastHook } from "../../lib/hook/fast.ts";
import type { SyncIo } from "../../lib/hook/sync-io.ts";
import { encodeFrame } from "../../lib/wire/frame.ts";

const SOCKET = "/run/test/armor.sock";
/** A made-up inode per namespace link. */
const inode = (path: string): number => 4026531835 + path.length;
const ns = (path: string): string => `${path.slice(path.lastIndexOf("/") + 1)}:[${inode(path)}]`;

/** A SyncIo over fixed inputs; `asked` records the requests, `answer` makes the reply. */
function fakeIo(stdin: string, options: { config?: string; answer?: (request: Record<string, unknown>) => unknown; stdinEnds?: boolean } = {}) {
  const asked: Record<string, unknown>[] = [];
  /** Frames sent after the answer, on the same connection. */
  const io: SyncIo = {
    now: () => 5,
    readStdin: () => ({ text: stdin, ended: options.stdinEnds ?? true }),
    readFile: (path) => {
      if (path === "/proc/42/cgroup") return "4:memory:/c1\n0::/c1\n";
      if (options.config === undefined) throw Object.assign(new Error(`${path}: ENOENT`), { code: "ENOENT" });
      return options.config;
    },
    readLink: ns,
    statIno: inode,
    ask: (_socket, frame) => {
      const request = JSON.parse(new TextDecoder().decode(frame.subarray(4))) as Record<string, unknown>;
      asked.push(request);
      const answer = options.answer ?? ((r) => ({ v: 1, id: r.id, ok: true, result: { container: { id: (r.container as { id: string }).id } } }));
      const reply = answer(request);
      if (reply instanceof Error) throw reply;
      return encodeFrame(reply).subarray(4);
    },
  };
  return { io, asked };
}

const create = JSON.stringify({
  id: "c1",
  status: "creating",
  pid: 42,
  bundle: "/b",
  annotations: { "io.kubernetes.pod.name": "web", "io.kubernetes.pod.namespace": "shop" },
});

describe("fastHook()", () => {
  test("a healthy createRuntime registers what runHook() would, with the deadline, and is not handed over", () => {
    const { io, asked } = fakeIo(create, { config: JSON.stringify({ process: { args: ["nginx"], apparmorProfile: "p" } }) });
    const result = fastHook(["createRuntime", `--socket=${SOCKET}`], io);
    expect(result).toMatchObject({
      decision: { outcome: { status: 0 }, result: "registered" },
      facts: { stage: "createRuntime", containerId: "c1" },
    });
    // The agent took the line and names the pod from its own record: the hook looks up no identity.
    expect((result as { facts: { pod?: string } }).facts.pod).toBeUndefined();
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({
      v: 1,
      id: 1,
      op: "register",
      source: "hook",
      container: { id: "c1", pid: 42, bundle: "/b", apparmorProfile: "p", namespaces: { pid: inode("/proc/42/ns/pid"), mnt: inode("/proc/42/ns/mnt") } },
    });
    expect(typeof asked[0]?.deadline).toBe("number");
  });

  test.each([
    ["createRuntime", create],
    ["poststop", JSON.stringify({ id: "c1", status: "stopped" })],
  ])("a healthy %s sends its log line's facts in its request, and writes none: the agent writes the line", (stage, stdin) => {
    const { io, asked } = fakeIo(stdin, {
      config: JSON.stringify({ process: { args: ["nginx"] } }),
      answer: (r) => ({ v: 1, id: r.id, ok: true, result: r.op === "register" ? { container: { id: "c1" } } : { removed: true } }),
    });
    const result = fastHook([stage, `--socket=${SOCKET}`, "--log-keep=4"], io);
    expect(result).toMatchObject({ decision: { sentToAgent: true } });
    expect(asked).toHaveLength(1);
    expect(asked[0]?.log).toEqual({ pid: process.pid, ms: 5, maxBytes: 1024 * 1024, keep: 4 });
  });

  test("sends no line when its log is not the one beside the socket: it appends its own", () => {
    const { io, asked } = fakeIo(create, { config: JSON.stringify({ process: { args: ["nginx"] } }) });
    const result = fastHook(["createRuntime", `--socket=${SOCKET}`, "--log-file=/var/log/h.log"], io);
    expect(result).toMatchObject({ decision: { sentToAgent: false }, facts: { pod: "shop/web" } });
    expect(asked[0]).not.toHaveProperty("log");
  });

  test("hands over an answer for another container: runHook() says what was wrong", () => {
    const { io } = fakeIo(create, {
      config: JSON.stringify({ process: { args: ["nginx"] } }),
      answer: (r) => ({ v: 1, id: r.id, ok: true, result: { container: { id: "other" } } }),
    });
    expect(fastHook(["createRuntime", `--socket=${SOCKET}`], io)).toHaveProperty("handoff");
  });

  test("carries the agent's warning (a gate that did not decide, --gate-policy open) to the log, still registered", () => {
    const warning = 'gate "slow" did not decide on container c1 within 500 ms; started under --gate-policy open';
    const { io } = fakeIo(create, {
      config: JSON.stringify({ process: { args: ["nginx"] } }),
      answer: (r) => ({ v: 1, id: r.id, ok: true, result: { container: { id: "c1" }, outcome: "added", warning } }),
    });
    expect(fastHook(["createRuntime", `--socket=${SOCKET}`], io)).toMatchObject({ decision: { outcome: { status: 0 }, result: "registered", warning } });
  });

  test("sends the cgroup: /proc/<pid>/cgroup's v2 path and its directory's inode, through one read and one stat", () => {
    const { io, asked } = fakeIo(create, { config: JSON.stringify({ process: { args: ["nginx"] } }) });
    fastHook(["createRuntime", `--socket=${SOCKET}`], io);
    expect((asked[0]?.container as { cgroup: unknown }).cgroup).toEqual({ path: "/c1", id: inode("/sys/fs/cgroup/unified/c1") });
  });

  test("a healthy poststop unregisters without reading the bundle", () => {
    const { io, asked } = fakeIo(JSON.stringify({ id: "c1", status: "stopped" }), {
      answer: (r) => ({ v: 1, id: r.id, ok: true, result: { removed: false } }),
    });
    expect(fastHook([], io)).toMatchObject({ decision: { result: "unregistered" } });
    expect(asked).toMatchObject([{ v: 1, id: 1, op: "unregister", container: "c1" }]);
  });

  test.each<[string, string[], ReturnType<typeof fakeIo>, RegExp]>([
    ["a bad flag", ["--sockett=x"], fakeIo(create), /usage/],
    ["--help", ["--help"], fakeIo(create), /help/],
    ["stdin that did not end in time", [], fakeIo("{", { stdinEnds: false }), /did not end/],
    ["a state that is not JSON", [], fakeIo("{", { config: "{}" }), /not valid JSON/],
    ["no config.json", [], fakeIo(create), /not found/],
    [
      "the agent's own container",
      ["--agent-namespace=shop"],
      fakeIo(create, { config: JSON.stringify({ process: { args: ["/usr/bin/armor-agent"] } }) }),
      /agent's own/,
    ],
    ["an unreachable agent", [], fakeIo(create, { config: "{}", answer: () => new ArmorError("E_AGENT_UNREACHABLE", "ENOENT") }), /ENOENT/],
    [
      "a refusal",
      [],
      fakeIo(create, { config: "{}", answer: (r) => ({ v: 1, id: r.id, ok: false, error: { code: "E_INVALID_REQUEST", message: "no" } }) }),
      /ok/,
    ],
    [
      "an answer for another container",
      [],
      fakeIo(create, { config: "{}", answer: (r) => ({ v: 1, id: r.id, ok: true, result: { container: { id: "other" } } }) }),
      /other/,
    ],
    [
      "an answer to another request",
      [],
      fakeIo(create, { config: "{}", answer: () => ({ v: 1, id: 7, ok: true, result: { container: { id: "c1" } } }) }),
      /id/,
    ],
  ])("hands over %s, with what it read and the time spent", (_name, argv, { io }, reason) => {
    const result = fastHook(argv, io);
    if (!("handoff" in result)) throw new Error("not handed over");
    expect(result.handoff.reason).toMatch(reason);
    expect(result.handoff.spentMs).toBe(5);
  });

  test("the handoff carries stdin and config.json as read, so runHook() reads neither again", () => {
    const result = fastHook([], fakeIo(create, { config: "{}", answer: () => new ArmorError("E_AGENT_UNREACHABLE", "ENOENT") }).io);
    expect(result).toEqual({ handoff: { reason: "ENOENT", stdin: create, config: { path: "/b/config.json", text: "{}" }, spentMs: 5 } });
  });
});
