/**
 * armor-agent: the node daemon (`serve`) and its client commands (`list`, `get`,
 * `lookup`, `watch`). Errors become one line and an exit status in `guarded`.
 */
import { defineCommand, runMain } from "citty";
import { getCommand, listCommand, lookupCommand, watchCommand } from "./lib/agent/commands.ts";
import { agentExitStatus } from "./lib/agent/exit-status.ts";
import { startAgent } from "./lib/agent/serve.ts";
import { DEFAULT_SOCKET } from "./lib/agent/socket-path.ts";
import { ArmorError, toArmorError } from "./lib/errors.ts";
import { jsonLogger, type Level } from "./lib/log.ts";
import { VERSION } from "./lib/version.ts";

const socketArg = { type: "string", description: "agent socket", default: DEFAULT_SOCKET, valueHint: "PATH" } as const;
const jsonArg = { type: "boolean", description: "print JSON", default: false } as const;
const timeoutArg = { type: "string", description: "give up after N ms", default: "5000", valueHint: "N" } as const;
const print = (line: string): void => console.log(line);

/** Runs a command body; an error becomes "armor-agent: CODE: message" and its exit status. */
async function guarded(body: () => Promise<unknown>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const error = toArmorError(err);
    console.error(`armor-agent: ${error.code}: ${error.message}`);
    process.exit(agentExitStatus(error.code));
  }
}

function timeoutMs(raw: string): number {
  const ms = Number(raw);
  if (!/^\d+$/.test(raw) || ms < 1 || ms > 600_000) throw new ArmorError("E_USAGE", `--timeout-ms must be a whole number from 1 to 600000, got "${raw}"`);
  return ms;
}

const serve = defineCommand({
  meta: { name: "serve", description: "Run the node agent: hold the registry and serve it on the socket" },
  args: {
    socket: socketArg,
    "log-level": { type: "enum", options: ["debug", "info", "warn", "error"], default: "info", description: "least severe log level written" },
  },
  run: ({ args }) =>
    guarded(async () => {
      const log = jsonLogger(args["log-level"] as Level);
      const agent = await startAgent({ socket: args.socket, version: VERSION, log });
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.on(signal, () => {
          log("info", "signal received", { signal });
          agent.stop();
          process.exit(0);
        });
      }
      await new Promise(() => {});
    }),
});

const list = defineCommand({
  meta: { name: "list", description: "List the containers the agent holds" },
  args: { socket: socketArg, json: jsonArg, "timeout-ms": timeoutArg },
  run: ({ args }) => guarded(() => listCommand(args.socket, timeoutMs(args["timeout-ms"]), args.json, print)),
});

const get = defineCommand({
  meta: { name: "get", description: "Show one container by id (exit 3 when not held)" },
  args: { id: { type: "positional", description: "container id", required: true }, socket: socketArg, json: jsonArg, "timeout-ms": timeoutArg },
  run: ({ args }) => guarded(() => getCommand(args.socket, timeoutMs(args["timeout-ms"]), args.id, args.json, print)),
});

const lookup = defineCommand({
  meta: { name: "lookup", description: "Which container owns a (pid, mnt) namespace pair (exit 3 when none)" },
  args: {
    pidns: { type: "positional", description: "pid namespace inode", required: true },
    mntns: { type: "positional", description: "mount namespace inode", required: true },
    socket: socketArg,
    json: jsonArg,
    "timeout-ms": timeoutArg,
  },
  run: ({ args }) => guarded(() => lookupCommand(args.socket, timeoutMs(args["timeout-ms"]), args.pidns, args.mntns, args.json, print)),
});

const watch = defineCommand({
  meta: { name: "watch", description: "Stream add/remove events as they happen" },
  args: { socket: socketArg, json: jsonArg, "timeout-ms": timeoutArg },
  run: ({ args }) => guarded(() => watchCommand(args.socket, timeoutMs(args["timeout-ms"]), args.json, print)),
});

await runMain(
  defineCommand({
    meta: { name: "armor-agent", version: VERSION, description: "armor-hooks node agent: registry of monitored containers" },
    subCommands: { serve, list, get, lookup, watch },
  }),
);
