/**
 * What a test starts or makes, undone after it, last first. A module of its own because it
 * registers bun:test's afterEach, and support.ts is also loaded by benchmarks.
 */
import { afterEach } from "bun:test";
import { AgentProcess, removeDir, tempDir } from "./support.ts";

export interface PerTest {
  /** Runs `cleanup` after the current test (last deferred, first run). */
  defer(cleanup: () => Promise<unknown> | void): void;
  /** A temp directory removed after the test. */
  workDir(): string;
  /** `armor-agent serve` on `socket`, stopped after the test. */
  startAgent(socket: string, extra?: string[]): Promise<AgentProcess>;
}

/** Call once at a test file's top level; `prefix` names its temp directories. */
export function perTest(prefix: string): PerTest {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  }, 60_000);
  const defer = (cleanup: () => Promise<unknown> | void): void => void cleanups.push(cleanup);
  return {
    defer,
    workDir() {
      const dir = tempDir(prefix);
      defer(() => removeDir(dir));
      return dir;
    },
    async startAgent(socket, extra = []) {
      const agent = await AgentProcess.start(socket, extra);
      defer(() => agent.stop());
      return agent;
    },
  };
}
