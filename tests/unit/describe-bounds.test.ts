/** The hook bounds what it sends to the agent's bounds (issue 10 item 10): metadata never fails a container. */
import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { ContainerInfoSchema, MAX_STRING_LENGTH } from "../../lib/container.ts";
import { MAX_RECORD_BYTES } from "../../lib/container-spec.ts";
import { bounded, describeWith } from "../../lib/describe.ts";
import { encodeFrame, MAX_FRAME_BYTES } from "../../lib/wire/frame.ts";
import { containerInfo } from "./_fixtures.ts";

const ref = { id: "c1", pid: 42, bundle: "/b" };
const podAnnotations = (name: string, extra: Record<string, string> = {}) => ({
  "io.kubernetes.pod.name": name,
  "io.kubernetes.pod.namespace": "shop",
  "io.kubernetes.container.name": "web",
  ...extra,
});

describe("bounded()", () => {
  test("leaves a record within the bounds as it is, unmarked", () => {
    const record = containerInfo({ pod: { name: "web-0", namespace: "shop", uid: null } });
    expect(bounded(structuredClone(record))).toEqual(record);
  });

  test("a 5,000-character pod name is cut to the agent's bound, marked, and the agent's schema takes the record", () => {
    const record = describeWith(ref, { apparmorProfile: null, args: [], annotations: podAnnotations("p".repeat(5000)) }, { pid: 1, mnt: 2 }, null);
    expect(record.pod?.name).toHaveLength(MAX_STRING_LENGTH);
    expect(record.pod?.name.endsWith("…")).toBe(true);
    expect(record.truncated).toEqual(["pod.name"]);
    expect(record.containerName).toBe("web");
    expect(v.safeParse(ContainerInfoSchema, record).success).toBe(true);
  });

  test("every long field is cut and named, in one order", () => {
    const long = "x".repeat(MAX_STRING_LENGTH + 1);
    const record = bounded(
      containerInfo({
        bundle: long,
        apparmorProfile: long,
        containerName: long,
        image: long,
        sandboxId: long,
        pod: { name: "n", namespace: "ns", uid: long },
        cgroup: { path: long, id: null },
      }),
    );
    expect(record.truncated).toEqual(["bundle", "apparmorProfile", "pod.uid", "containerName", "sandboxId", "image", "cgroup.path"]);
    expect(v.safeParse(ContainerInfoSchema, record).success).toBe(true);
  });

  test("multi-byte characters in every field still make one frame", () => {
    const wide = "€".repeat(MAX_STRING_LENGTH);
    const record = bounded(
      containerInfo({
        bundle: wide,
        apparmorProfile: wide,
        containerName: wide,
        image: wide,
        sandboxId: wide,
        pod: { name: wide, namespace: wide, uid: wide },
      }),
    );
    expect(new TextEncoder().encode(JSON.stringify(record)).length).toBeLessThanOrEqual(MAX_RECORD_BYTES);
    expect(encodeFrame({ v: 1, id: 1, op: "register", source: "hook", container: record }).length).toBeLessThan(MAX_FRAME_BYTES);
    expect(v.safeParse(ContainerInfoSchema, record).success).toBe(true);
    expect(record.truncated?.length).toBeGreaterThan(0);
  });

  test("never splits a surrogate pair", () => {
    const record = bounded(containerInfo({ image: `${"a".repeat(MAX_STRING_LENGTH - 2)}${"😀".repeat(10)}` }));
    expect(record.image?.isWellFormed()).toBe(true);
    expect(record.truncated).toEqual(["image"]);
  });
});
