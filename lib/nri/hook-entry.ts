/**
 * The OCI hook entry armor-agent nri injects: the one install.sh writes into
 * hooks.d and base_runtime_spec (tests/unit/nri-plugin.test.ts holds them equal),
 * with `env` set so nothing of the runtime's environment reaches the hook.
 */
import type { OciHook } from "./messages.ts";

/** Where install.sh puts the hook binary. */
export const DEFAULT_HOOK_PATH = "/usr/local/lib/armor-hooks/armor-hook";
/** The hook's whole environment. */
export const HOOK_ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] as const;

/** The runtime's own limit on a hook: the hook's deadline rounded up, plus 3 s, so the hook always ends itself first. */
export const runtimeTimeoutSeconds = (timeoutMs: number): number => Math.ceil(timeoutMs / 1000) + 3;

/** What the entry is made of: the binary, the hook's options (as an argv, without the stage) and its deadline. */
export interface HookEntryOptions {
  hookPath: string;
  hookArgs: readonly string[];
  timeoutMs: number;
}

/** The createRuntime and poststop entries. */
export function hookEntries(o: HookEntryOptions): { createRuntime: OciHook[]; poststop: OciHook[] } {
  const entry = (stage: string): OciHook => ({
    path: o.hookPath,
    args: ["armor-hook", stage, ...o.hookArgs],
    env: [...HOOK_ENV],
    timeout: runtimeTimeoutSeconds(o.timeoutMs),
  });
  return { createRuntime: [entry("createRuntime")], poststop: [entry("poststop")] };
}

/** Whether `hooks` already runs armor-hook (a base spec or another injector put it there): by path or by argv[0]. */
export function hasOurHook(hooks: readonly OciHook[], hookPath: string): boolean {
  return hooks.some((hook) => hook.path === hookPath || basename(hook.path) === "armor-hook" || hook.args[0] === "armor-hook");
}

const basename = (path: string): string => path.slice(path.lastIndexOf("/") + 1);
