import { describe, expect, test } from "bun:test";
import {
  baseSpecProblems,
  configLines,
  configNamesSpec,
  configVersion,
  setConfigSpec,
  unsetConfigSpec,
  withArmorHooks,
} from "../../lib/agent/containerd-spec.ts";
import type { StatPath } from "../../lib/agent/hooks-check.ts";

const SPEC = "/etc/armor-hooks/containerd-base-spec.json";
const DEFAULT = { ociVersion: "1.0.2-dev", process: { cwd: "/", args: [] }, root: { path: "rootfs" }, linux: { namespaces: [{ type: "pid" }] }, mounts: [] };
const hook = (stage: string, path = "/usr/local/lib/armor-hooks/armor-hook") => ({ path, args: ["armor-hook", stage], env: ["PATH=/bin"], timeout: 5 });
const ARMOR = { createRuntime: hook("createRuntime"), poststop: hook("poststop") };
const executable: StatPath = () => ({ isFile: true, mode: 0o100755 });
const missing: StatPath = () => undefined;

describe("withArmorHooks()", () => {
  test("adds the hook at createRuntime and poststop and keeps the rest of the default as it is", () => {
    const spec = withArmorHooks(DEFAULT, ARMOR);
    expect(spec).toEqual({ ...DEFAULT, hooks: { createRuntime: [ARMOR.createRuntime], poststop: [ARMOR.poststop] } });
  });

  test("keeps another tool's hooks and replaces an earlier armor-hook entry", () => {
    const other = { path: "/usr/bin/other-hook" };
    const spec = withArmorHooks({ ...DEFAULT, hooks: { createRuntime: [other, hook("createRuntime", "/old/armor-hook")], prestart: [other] } }, ARMOR);
    expect(spec.hooks).toEqual({ createRuntime: [other, ARMOR.createRuntime], prestart: [other], poststop: [ARMOR.poststop] });
  });

  test.each([
    ["not an object", "[]"],
    ["no process", { ...DEFAULT, process: undefined }],
    ["a hook with a relative path", { ...DEFAULT, hooks: { poststop: [{ path: "bin/x" }] } }],
  ])("refuses a default that is %s", (_, doc) => {
    expect(() => withArmorHooks(doc, ARMOR)).toThrow("the default spec is not an OCI runtime spec");
  });
});

describe("baseSpecProblems()", () => {
  test("has none for the built spec whose hook binary is there", () => {
    expect(baseSpecProblems(withArmorHooks(DEFAULT, ARMOR), "", executable)).toEqual([]);
  });

  test("refuses a spec whose hook binary is missing: containerd would fail every app container at StartContainer", () => {
    expect(baseSpecProblems(withArmorHooks(DEFAULT, ARMOR), "", missing)).toEqual([
      "hooks.createRuntime: /usr/local/lib/armor-hooks/armor-hook is not an executable file: every container containerd starts from this spec would fail",
      "hooks.poststop: /usr/local/lib/armor-hooks/armor-hook is not an executable file: every container containerd starts from this spec would fail",
    ]);
  });

  test("resolves hook paths inside the install root", () => {
    const seen: string[] = [];
    baseSpecProblems(withArmorHooks(DEFAULT, ARMOR), "/host", (path) => (seen.push(path), undefined));
    expect(seen).toContain("/host/usr/local/lib/armor-hooks/armor-hook");
  });

  test("refuses a spec without armor-hook at both stages, or with its env unset", () => {
    expect(baseSpecProblems(DEFAULT, "", executable)).toEqual([
      "hooks.createRuntime must hold armor-hook once, holds it 0 times",
      "hooks.poststop must hold armor-hook once, holds it 0 times",
    ]);
    const noEnv = withArmorHooks(DEFAULT, { ...ARMOR, poststop: { path: ARMOR.poststop.path, args: ARMOR.poststop.args } });
    expect(baseSpecProblems(noEnv, "", executable)).toEqual([
      "hooks.poststop: armor-hook needs its own env without BUN_ variables (a compiled Bun binary obeys them)",
    ]);
  });

  test("refuses what is not a spec", () => {
    expect(baseSpecProblems({ ociVersion: "1.0.2" }, "", executable)[0]).toStartWith("not an OCI runtime spec containerd can start containers from");
  });
});

describe("containerd's config line", () => {
  const v2 = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause:3.9"\n';

  test("configLines() names the runc runtime table of 1.x and of 2.x", () => {
    expect(configLines(SPEC)).toEqual({
      "1.x": `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  base_runtime_spec = "${SPEC}"`,
      "2.x": `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]\n  base_runtime_spec = "${SPEC}"`,
    });
  });

  test("appends the runc table to a version 2 config that has none", () => {
    expect(setConfigSpec(v2, SPEC)).toBe(`${v2}\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  base_runtime_spec = "${SPEC}"\n`);
  });

  test("adds the line under an existing runc table of a version 3 config, quotes and spaces as written", () => {
    const v3 = "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n  runtime_type = 'io.containerd.runc.v2'\n[other]\n";
    expect(setConfigSpec(v3, SPEC)).toBe(
      `version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n  base_runtime_spec = "${SPEC}"\n  runtime_type = 'io.containerd.runc.v2'\n[other]\n`,
    );
  });

  test("replaces another base_runtime_spec of the runc table in place, and is idempotent", () => {
    const named = `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  base_runtime_spec = "/etc/old.json" # theirs\n  x = 1\n`;
    const set = setConfigSpec(named, SPEC);
    expect(set).toBe(`version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  base_runtime_spec = "${SPEC}"\n  x = 1\n`);
    expect(setConfigSpec(set, SPEC)).toBe(set);
  });

  test("refuses a version 1 config and a base_runtime_spec it cannot see the table of", () => {
    expect(() => setConfigSpec("[plugins.cri]\n", SPEC)).toThrow("config version 1");
    expect(() => setConfigSpec(`version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  runtimes.runc.base_runtime_spec = "/x"\n`, SPEC)).toThrow(
      "set it by hand",
    );
  });

  test("configNamesSpec() and unsetConfigSpec() look at base_runtime_spec lines only", () => {
    const set = setConfigSpec(v2, SPEC);
    expect(configNamesSpec(set, SPEC)).toBe(true);
    expect(configNamesSpec(`# base_runtime_spec = "${SPEC}"\n`, SPEC)).toBe(false);
    expect(configNamesSpec(set, "/etc/other.json")).toBe(false);
    expect(configNamesSpec(unsetConfigSpec(set, SPEC), SPEC)).toBe(false);
    expect(unsetConfigSpec(set, SPEC)).toContain('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]');
  });

  test("configVersion() reads version = N, 1 when absent", () => {
    expect([configVersion(v2), configVersion("version = 3 # 2.x\n"), configVersion("")]).toEqual([2, 3, 1]);
  });
});
