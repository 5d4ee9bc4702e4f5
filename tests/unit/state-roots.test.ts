import { describe, expect, test } from "bun:test";
import { DEFAULT_STATE_ROOTS, parseStateFile, parseStateRoot, STATE_FILE } from "../../lib/bootstrap/state-roots.ts";
import { armorErrorOf } from "./_fixtures.ts";

/** A runc state.json as runc 1.1 writes it (trimmed). */
function runcState(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    id: "4f1c2e",
    init_process_pid: 3012,
    init_process_start: 987654,
    created: "2025-01-01T00:00:00.000000000Z",
    config: {
      no_pivot_root: false,
      rootfs: "/run/containers/storage/overlay/abc/merged",
      labels: ["bundle=/run/containers/storage/overlay-containers/4f1c2e/userdata", "io.podman.annotations.autoremove=FALSE"],
      namespaces: [{ type: "NEWPID", path: "" }],
    },
    rootless: false,
    cgroup_paths: { "": "/sys/fs/cgroup/machine.slice/libpod-4f1c2e.scope" },
    namespace_paths: { NEWPID: "/proc/3012/ns/pid" },
    external_descriptors: ["/dev/null", "/dev/null", "/dev/null"],
    ...overrides,
  });
}

/** A crun status file as crun writes it. */
function crunStatus(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    pid: 5120,
    "process-start-time": 123456,
    "cgroup-path": "/machine.slice/libpod-9a.scope",
    rootfs: "/var/lib/containers/storage/overlay/9a/merged",
    "systemd-cgroup": true,
    bundle: "/var/lib/containers/storage/overlay-containers/9a/userdata",
    created: "2025-01-01T00:00:00.000000000Z",
    owner: 0,
    detached: true,
    external_descriptors: '["/dev/null"]',
    ...overrides,
  });
}

describe("parseStateRoot()", () => {
  test.each([
    ["runc:/run/runc", { format: "runc", path: "/run/runc" }],
    ["crun:/run/crun", { format: "crun", path: "/run/crun" }],
    ["runc:/run/containerd/runc", { format: "runc", path: "/run/containerd/runc" }],
    ["runc:/odd:path", { format: "runc", path: "/odd:path" }],
  ])("reads %p", (spec, root) => {
    expect(parseStateRoot(spec)).toEqual(root as ReturnType<typeof parseStateRoot>);
  });

  test.each(["", "runc", "/run/runc", "runc:", "runc:run/runc", "youki:/run/youki", "RUNC:/run/runc", ":/run/runc"])("refuses %p with E_USAGE", (spec) => {
    const err = armorErrorOf(() => parseStateRoot(spec));
    expect(err.code).toBe("E_USAGE");
    expect(err.message).toBe(`--state-root must be runc:/absolute/path or crun:/absolute/path, got "${spec}"`);
  });

  test("the default roots are runc's, containerd's runc shim's and crun's", () => {
    expect(DEFAULT_STATE_ROOTS.map((r) => `${r.format}:${r.path}`)).toEqual(["runc:/run/runc", "runc:/run/containerd/runc", "crun:/run/crun"]);
    expect(STATE_FILE).toEqual({ runc: "state.json", crun: "status" });
  });
});

describe("parseStateFile() of a runc state.json", () => {
  test("reads the id, init pid, its start time, the bundle label and the other labels as annotations", () => {
    expect(parseStateFile("runc", "dir-name", runcState())).toEqual({
      annotations: { "io.podman.annotations.autoremove": "FALSE" },
      id: "4f1c2e",
      pid: 3012,
      startTime: 987654,
      bundle: "/run/containers/storage/overlay-containers/4f1c2e/userdata",
    });
  });

  test("takes the id from the state, not from the directory name", () => {
    expect(parseStateFile("runc", "something-else", runcState())).toMatchObject({ id: "4f1c2e" });
  });

  test("leaves the start time undefined when the state has none", () => {
    const entry = parseStateFile("runc", "x", runcState({ init_process_start: undefined }));
    expect(entry).toMatchObject({ pid: 3012, startTime: undefined });
  });

  test("keeps '=' inside a bundle path", () => {
    expect(parseStateFile("runc", "x", runcState({ config: { labels: ["a=b", "bundle=/b/x=y"] } }))).toMatchObject({ bundle: "/b/x=y" });
  });

  test.each([
    ["not JSON", "{", "not valid JSON"],
    ["half-written", runcState().slice(0, 40), "not valid JSON"],
    ["an array", "[]", "not a runc state"],
    ["without an id", runcState({ id: undefined }), "not a runc state"],
    ["with pid 0", runcState({ init_process_pid: 0 }), "not a runc state"],
    ["with a string pid", runcState({ init_process_pid: "3012" }), "not a runc state"],
    ["without config", runcState({ config: undefined }), "not a runc state"],
    ["without labels", runcState({ config: {} }), "no bundle label"],
    ["without a bundle label", runcState({ config: { labels: ["other=1"] } }), "no bundle label"],
  ])("returns the reason for a state %s", (_name, text, reason) => {
    expect(parseStateFile("runc", "x", text)).toBe(reason);
  });
});

describe("parseStateFile() of a crun status", () => {
  test("reads the pid, its start time and the bundle, with the directory name as id", () => {
    expect(parseStateFile("crun", "9a", crunStatus())).toEqual({
      id: "9a",
      pid: 5120,
      startTime: 123456,
      bundle: "/var/lib/containers/storage/overlay-containers/9a/userdata",
    });
  });

  test.each([
    ["not JSON", "", "not valid JSON"],
    ["without a bundle", crunStatus({ bundle: undefined }), "not a crun status"],
    ["without a pid", crunStatus({ pid: undefined }), "not a crun status"],
    ["with a negative pid", crunStatus({ pid: -1 }), "not a crun status"],
    ["in runc's format", runcState(), "not a crun status"],
  ])("returns the reason for a status %s", (_name, text, reason) => {
    expect(parseStateFile("crun", "9a", text)).toBe(reason);
  });
});
