import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { ContainerInfoSchema } from "../../lib/container.ts";
import { containerInfo } from "./_fixtures.ts";

describe("ContainerInfoSchema's containerType", () => {
  test("a register without the field (a hook of the previous build) reads as null", () => {
    const { containerType: _, ...older } = containerInfo();
    expect(v.parse(ContainerInfoSchema, older).containerType).toBeNull();
  });

  test.each(["sandbox", "container", null] as const)("keeps %p", (type) => {
    expect(v.parse(ContainerInfoSchema, containerInfo({ containerType: type })).containerType).toBe(type);
  });

  test.each(["Sandbox", "pause", "", 1])("refuses %p", (type) => {
    expect(v.safeParse(ContainerInfoSchema, { ...containerInfo(), containerType: type }).success).toBe(false);
  });
});
