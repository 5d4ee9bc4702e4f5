import { describe, expect, test } from "bun:test";
import { formatContainer, formatEvent, formatTable } from "../../lib/agent/format.ts";
import type { Container } from "../../lib/container.ts";
import { containerInfo } from "./_fixtures.ts";

const plain: Container = {
  ...containerInfo({ id: "c1", pid: 7, apparmorProfile: null, namespaces: { pid: 11, mnt: 12 } }),
  source: "bootstrap",
  registeredAt: "2025-01-01T00:00:00.000Z",
};

const pod: Container = {
  ...containerInfo({
    id: "longer-id",
    pid: 4242,
    namespaces: { pid: 4026532001, mnt: 4026532002, net: 4026532003 },
    apparmorProfile: "armor-default",
    pod: { name: "web-0", namespace: "shop", uid: null },
    containerName: "nginx",
    sandboxId: "sb-1",
    image: "nginx:1.27",
    containerType: "container",
  }),
  source: "hook",
  registeredAt: "2025-01-01T00:00:01.000Z",
};

describe("formatTable()", () => {
  test("prints aligned columns with a header, one container a row", () => {
    expect(formatTable([plain, pod]).split("\n")).toEqual([
      "ID         PID   PIDNS       MNTNS       POD         CONTAINER  TYPE       APPARMOR       SOURCE     REGISTERED",
      "c1         7     11          12          -           -          -          -              bootstrap  2025-01-01T00:00:00.000Z",
      "longer-id  4242  4026532001  4026532002  shop/web-0  nginx      container  armor-default  hook       2025-01-01T00:00:01.000Z",
    ]);
  });

  test("prints only the header for an empty registry", () => {
    expect(formatTable([])).toBe("ID  PID  PIDNS  MNTNS  POD  CONTAINER  TYPE  APPARMOR  SOURCE  REGISTERED");
  });

  test("shows a dash for a missing pid or mnt namespace", () => {
    const row = formatTable([{ ...plain, namespaces: { net: 3 } }]).split("\n")[1];
    expect(row?.split(/\s+/).slice(0, 4)).toEqual(["c1", "7", "-", "-"]);
  });
});

describe("formatContainer()", () => {
  test("prints every field on its own line", () => {
    expect(formatContainer(pod)).toBe(
      [
        "id:              longer-id",
        "pid:             4242",
        "bundle:          /run/bundles/c1",
        "namespaces:      pid:4026532001 mnt:4026532002 net:4026532003",
        "apparmorProfile: armor-default",
        "pod:             shop/web-0 (uid -)",
        "containerName:   nginx",
        "sandboxId:       sb-1",
        "containerType:   container",
        "image:           nginx:1.27",
        "cgroup:          -",
        "source:          hook",
        "registeredAt:    2025-01-01T00:00:01.000Z",
      ].join("\n"),
    );
  });

  test("prints dashes for what is unknown", () => {
    const text = formatContainer(plain);
    expect(text).toContain("apparmorProfile: -\n");
    expect(text).toContain("pod:             -\n");
    expect(text).toContain("image:           -\n");
  });
});

describe("formatEvent()", () => {
  test("prints an add with its pod", () => {
    expect(formatEvent({ v: 1, event: "add", epoch: "ab", rev: 3, container: pod })).toBe(
      "+ longer-id pid=4242 pidns=4026532001 mntns=4026532002 pod=shop/web-0 source=hook rev=3",
    );
  });

  test("prints a remove without a pod", () => {
    expect(formatEvent({ v: 1, event: "remove", epoch: "ab", rev: 4, source: "unregister", container: { ...plain, namespaces: {} } })).toBe(
      "- c1 pid=7 pidns=- mntns=- source=bootstrap rev=4",
    );
  });

  test("prints the cgroup id, and what removed a container when it was not its poststop", () => {
    const swept = { ...plain, cgroup: { path: "/c1", id: 5151 } };
    expect(formatEvent({ v: 1, event: "remove", epoch: "ab", rev: 9, source: "sweep", container: swept })).toBe(
      "- c1 pid=7 pidns=11 mntns=12 cgroup=5151 source=bootstrap removed-by=sweep rev=9",
    );
  });
});

describe("what a pod author wrote", () => {
  const hostile: Container = {
    ...pod,
    id: "evil\u202eid",
    pod: { name: "web\u001b[2J\u001b[H", namespace: "shop\u009b31m", uid: null },
    containerName: "nginx\u001b]0;pwned\u0007",
    image: "img\nfake line",
    bundle: "/b\u2066x",
  };
  const raw = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

  test("is escaped in the table, in get's fields and in watch's line", () => {
    for (const text of [
      formatTable([hostile]).replaceAll("\n", ""),
      formatContainer(hostile).replaceAll("\n", ""),
      formatEvent({ v: 1, event: "add", epoch: "ab", rev: 1, container: hostile }),
    ]) {
      expect(text).not.toMatch(raw);
    }
    expect(formatContainer(hostile)).toContain("containerName:   nginx\\u001b]0;pwned\\u0007");
    expect(formatEvent({ v: 1, event: "add", epoch: "ab", rev: 1, container: hostile })).toContain("+ evil\\u202eid ");
    expect(formatTable([hostile]).split("\n")).toHaveLength(2);
  });
});
