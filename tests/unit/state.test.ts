import { describe, expect, test } from "bun:test";
import { parseState, resolveStage, type State } from "../../lib/oci/state.ts";
import { armorErrorOf } from "./_fixtures.ts";

describe("parseState()", () => {
  test("parses runc's createRuntime state", () => {
    const state = parseState(JSON.stringify({ ociVersion: "1.2.0", id: "abc", status: "created", pid: 4242, bundle: "/b", annotations: { k: "v" } }));
    expect(state).toEqual({ ociVersion: "1.2.0", id: "abc", status: "created", pid: 4242, bundle: "/b", annotations: { k: "v" } });
  });

  test("accepts a poststop state without pid, and pid 0 as crun sends it", () => {
    expect(parseState('{"id":"abc","status":"stopped"}').pid).toBeUndefined();
    expect(parseState('{"id":"abc","status":"stopped","pid":0}').pid).toBe(0);
  });

  test("keeps fields a newer spec adds", () => {
    expect(parseState('{"id":"abc","future":{"x":1}}')).toMatchObject({ id: "abc", future: { x: 1 } });
  });

  test.each([
    ["empty input", "", "OCI state on stdin is empty"],
    ["whitespace only", " \n\t ", "OCI state on stdin is empty"],
    ["garbage", "garbage", /^OCI state on stdin is not valid JSON \(.+\)$/],
    ["truncated JSON", '{"id":"abc","pid":', /^OCI state on stdin is not valid JSON \(.+\)$/],
    ["a JSON number, not an object", "42", /^OCI state on stdin: .*Object.*42/],
    ["JSON null", "null", /^OCI state on stdin: .*Object.*null/],
    ["missing id", '{"status":"created"}', "OCI state on stdin: id: missing"],
    ["empty id", '{"id":""}', "OCI state on stdin: id: empty"],
    ["id not a string", '{"id":7}', /^OCI state on stdin: id: .*string/],
    ["negative pid", '{"id":"a","pid":-1}', /^OCI state on stdin: pid: .*-1/],
    ["fractional pid", '{"id":"a","pid":1.5}', /^OCI state on stdin: pid: .*1\.5/],
    ["pid as a string", '{"id":"a","pid":"42"}', /^OCI state on stdin: pid: .*number.*"42"/],
    ["annotation value not a string", '{"id":"a","annotations":{"k":1}}', /^OCI state on stdin: annotations\.k: .*string/],
    ["annotations not an object", '{"id":"a","annotations":"x"}', /^OCI state on stdin: annotations: .*Object/],
  ])("refuses %s with E_STATE naming the problem", (_name, input, message) => {
    const err = armorErrorOf(() => parseState(input));
    expect(err.code).toBe("E_STATE");
    if (typeof message === "string") expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
    expect(err.message).not.toContain("\n");
  });
});

describe("resolveStage()", () => {
  const state = (status?: string): State => (status === undefined ? { id: "a" } : { id: "a", status });

  test.each([
    ["creating", "createRuntime"],
    ["created", "createRuntime"],
    ["stopped", "poststop"],
  ] as const)("tells the stage from status %s", (status, stage) => {
    expect(resolveStage(state(status), undefined)).toBe(stage);
  });

  test.each([
    ["createRuntime", "stopped", "createRuntime"],
    ["poststop", "created", "poststop"],
    ["prestart", "stopped", "createRuntime"],
  ] as const)("an argument %s wins over status %s", (argument, status, stage) => {
    expect(resolveStage(state(status), argument)).toBe(stage);
  });

  test("treats prestart as an alias of createRuntime", () => {
    expect(resolveStage(state(), "prestart")).toBe("createRuntime");
  });

  test("refuses status running with E_STAGE asking for an argument", () => {
    const err = armorErrorOf(() => resolveStage(state("running"), undefined));
    expect(err.code).toBe("E_STAGE");
    expect(err.message).toBe('cannot tell the stage from status "running": pass createRuntime or poststop as an argument');
  });

  test("refuses a missing status with E_STAGE", () => {
    const err = armorErrorOf(() => resolveStage(state(), undefined));
    expect(err.code).toBe("E_STAGE");
    expect(err.message).toContain('status "(none)"');
  });

  test.each(["poststart", "createContainer", "CREATERUNTIME", "", "toString", "__proto__"])("refuses an unknown stage argument %p with E_STAGE", (argument) => {
    const err = armorErrorOf(() => resolveStage(state("created"), argument));
    expect(err.code).toBe("E_STAGE");
    expect(err.message).toBe(`unknown stage "${argument}" (expected createRuntime or poststop)`);
  });
});
