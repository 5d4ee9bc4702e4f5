/**
 * `armor-agent watch --gate NAME --exec CMD`: an operator's gate as a command. CMD
 * runs (through /bin/sh -c) once per gated add, with the record as JSON on stdin
 * and ARMOR_CONTAINER_ID in its environment; exit 0 acks, anything else nacks with
 * CMD's first stderr line. Its stdout goes to our stderr: stdout carries the events.
 */
import type { GateAnswer } from "../consumer.ts";
import type { Container } from "../container.ts";

/** How much of CMD's stderr is kept for the reason (the rest is read and dropped). */
const MAX_REASON_BYTES = 4096;

/** Runs CMD for `container`; killed after `timeoutMs` (the agent has decided by then without it). */
export async function runGateCommand(cmd: string, container: Container, timeoutMs: number): Promise<GateAnswer> {
  const proc = Bun.spawn(["/bin/sh", "-c", cmd], {
    stdin: new TextEncoder().encode(`${JSON.stringify(container)}\n`),
    stdout: 2,
    stderr: "pipe",
    env: { ...process.env, ARMOR_CONTAINER_ID: container.id },
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  try {
    const [stderr, status] = await Promise.all([firstBytes(proc.stderr, MAX_REASON_BYTES), proc.exited]);
    if (status === 0 && !timedOut) return { ack: true };
    const line = stderr
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l !== "");
    if (line !== undefined) return { ack: false, reason: line };
    return { ack: false, reason: timedOut ? `gate command did not finish within ${timeoutMs} ms` : `gate command exited with status ${status}` };
  } finally {
    clearTimeout(timer);
  }
}

/** The first `max` bytes of a stream, as text; reads to its end so the writer never blocks. */
async function firstBytes(stream: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const kept: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    if (size >= max) continue;
    const part = chunk.subarray(0, max - size);
    kept.push(part);
    size += part.length;
  }
  return new TextDecoder().decode(Buffer.concat(kept));
}
