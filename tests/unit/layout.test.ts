import { describe, expect, test } from "bun:test";
import { layout } from "../../lib/layout.ts";

describe("layout()", () => {
  test("names every file beside the socket", () => {
    expect(layout("/run/armor/armor.sock")).toEqual({
      dir: "/run/armor",
      spool: "/run/armor/spool",
      hookLog: "/run/armor/hook.log",
      bootstrapLog: "/run/armor/bootstrap.log",
      agentLock: "/run/armor/agent.lock",
      bootstrapLock: "/run/armor/bootstrap.lock",
      nriLock: "/run/armor/nri.lock",
    });
  });

  test.each([
    ["/run/armor/armor.sock", "/run/armor", "/run/armor/spool"],
    // A file at the root keeps its files at the root, never in a path relative to the runtime's cwd.
    ["/armor.sock", "/", "/spool"],
    ["armor.sock", ".", "./spool"],
    ["a/b.sock", "a", "a/spool"],
  ])("%s: directory %s, spool %s", (socket, dir, spool) => {
    expect(layout(socket).dir).toBe(dir);
    expect(layout(socket).spool).toBe(spool);
  });
});
