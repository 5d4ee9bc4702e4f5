import { describe, expect, test } from "bun:test";
import { runGateCommand } from "../../lib/agent/gate-exec.ts";
import type { Container } from "../../lib/container.ts";
import { containerInfo } from "./_fixtures.ts";

const container: Container = { ...containerInfo({ id: "c1" }), source: "hook", registeredAt: "2025-01-01T00:00:00.000Z" };

describe("runGateCommand()", () => {
  test("exit 0 acks", async () => {
    expect(await runGateCommand("true", container, 5000)).toEqual({ ack: true });
  });

  test("gives the command the record on stdin and ARMOR_CONTAINER_ID in its environment", async () => {
    const cmd = `record=$(cat); test "$ARMOR_CONTAINER_ID" = c1 && case "$record" in *'"id":"c1"'*'"registeredAt":"2025-01-01T00:00:00.000Z"'*) ;; *) exit 1;; esac`;
    expect(await runGateCommand(cmd, container, 5000)).toEqual({ ack: true });
  });

  test("any other exit nacks with the first stderr line", async () => {
    expect(await runGateCommand("echo; echo '  image not signed  ' >&2; echo more >&2; exit 3", container, 5000)).toEqual({
      ack: false,
      reason: "image not signed",
    });
  });

  test("a silent failure nacks with its exit status", async () => {
    expect(await runGateCommand("exit 9", container, 5000)).toEqual({ ack: false, reason: "gate command exited with status 9" });
  });

  test("a command that outlives the gate's timeout is killed and nacks", async () => {
    expect(await runGateCommand("exec sleep 30", container, 100)).toEqual({ ack: false, reason: "gate command did not finish within 100 ms" });
  });

  test("keeps only the start of a flood of stderr, without blocking the command", async () => {
    const answer = await runGateCommand("head -c 1000000 /dev/zero | tr '\\\\0' x >&2; exit 1", container, 5000);
    expect(answer.ack).toBe(false);
    expect(!answer.ack && answer.reason.length).toBe(4096);
  });
});
