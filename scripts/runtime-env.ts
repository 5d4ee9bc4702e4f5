/**
 * Environment variables the embedded Bun runtime reads, and what the build does with each.
 *
 * A compiled Bun binary obeys its environment before any of our code runs, and a runtime may
 * hand its own environment to a hook. So every name the runtime reads is classified here, and
 * the build makes it inert or says why it is harmless:
 *
 * - Names in the runtime's string table (.rodata) — read with getenv() by Bun and by WebKit, or
 *   compared with the entries of Bun's environment map — are erased: their first byte becomes
 *   NUL, which matches no variable (glibc's getenv("") is NULL). Only where the name stands as a
 *   name: never inside a message (after a space, `$`, a quote, markup) nor inside a longer name.
 * - JSC's options, `BUN_JSC_<option>=value`, are not names in a table: JSCInitialize compares
 *   each environment entry with 'B','U','N','_','J','S','C','_' in machine code. That loop's first
 *   comparison is turned into an unconditional "skip this entry" (patchJscOptionPrefix()).
 * - Names in Bun's built-in JavaScript (.bun_builtins, `process.env.X`) cannot be erased without
 *   corrupting that source: each carries `js`, why that read is harmless here.
 * - Our own bundle (.bun) is never touched: its strings (check-hooks' messages) stay whole.
 *
 * A name found in the binary and missing from RUNTIME_ENV fails the build (a Bun upgrade that
 * reads something new); so does a BUN_JSC_ loop that is not found exactly once.
 */

/** What the build does with one name: erased from .rodata, or kept there (why it is harmless). */
export interface EnvName {
  readonly erase: boolean;
  readonly why: string;
  /** Present when Bun's built-in JavaScript reads it too: why that read is harmless. */
  readonly js?: string;
}

const group = (erase: boolean, why: string, names: readonly string[], js?: string): Array<[string, EnvName]> =>
  names.map((name) => [name, js === undefined ? { erase, why } : { erase, why, js }]);

/** Every BUN_/JSC_ name this Bun's runtime holds, by what it would do. */
export const RUNTIME_ENV: ReadonlyMap<string, EnvName> = new Map([
  ...group(true, "turns the binary into the bun CLI, which runs a script named like the hook's argument from the bundle directory", ["BUN_BE_BUN"]),
  ...group(true, "adds bun command-line options (--preload of any file, --inspect, …)", ["BUN_OPTIONS", "BUN_TCC_OPTIONS"]),
  ...group(
    true,
    "opens a debugger or preloads a script",
    ["BUN_INSPECT", "BUN_INSPECT_CONNECT_TO", "BUN_INSPECT_PRELOAD", "BUN_INSPECT_NOTIFY"],
    "BUN_INSPECT_NOTIFY: read by the inspector's JavaScript, which nothing can start (BUN_INSPECT* erased)",
  ),
  ...group(true, "writes a file at a path the environment names", [
    "BUN_BYTECODE_ORDER_OUT",
    "BUN_BYTECODE_ORDER_NAMES_OUT",
    "BUN_BYTECODE_DIGEST_OUT",
    "BUN_RUNTIME_TRANSPILER_CACHE_PATH",
    "JSC_PROFILER_PATH",
  ]),
  ...group(true, "sends crash reports to a URL / spawns or downloads a program", [
    "BUN_CRASH_REPORT_URL",
    "BUN_ENABLE_CRASH_REPORTING",
    "BUN_CHROME_PATH",
    "BUN_COMPILE_TARGET_TARBALL_URL",
  ]),
  ...group(true, "adds output to stderr (traces, statistics, verbose fetch)", [
    "BUN_TRACE",
    "BUN_WATCHER_TRACE",
    "BUN_THREADPOOL_STATS",
    "BUN_CONFIG_VERBOSE_FETCH",
    "BUN_DEBUG_lsquic",
    "BUN_SHOW_BUN_STACKFRAMES",
    "BUN_DISABLE_SLOW_FILESYSTEM_WARNING",
    "BUN_DISABLE_SLOW_LIFECYCLE_SCRIPT_LOGGING",
    "BUN_DISABLE_SOURCE_CODE_PREVIEW",
    "BUN_DISABLE_TRANSPILED_SOURCE_CODE_PREVIEW",
    "BUN_DISABLE_KITTY_PROBE",
    "BUN_AGENT_RULE_DISABLED",
  ]),
  ...group(
    true,
    "changes garbage collection, memory or VM teardown",
    [
      "BUN_GC_TIMER_DISABLE",
      "BUN_GC_TIMER_INTERVAL",
      "BUN_GC_RUNS_UNTIL_SKIP_RELEASE_ACCESS",
      "BUN_IDLE_GC_SECONDS",
      "BUN_GARBAGE_COLLECTOR_LEVEL",
      "BUN_DESTRUCT_VM_ON_EXIT",
      "BUN_DISABLE_STOP_IF_NECESSARY_TIMER",
      "BUN_DISABLE_STORE_AST_HEAP",
      "BUN_FEATURE_FLAG_SYNTHETIC_MEMORY_LIMIT",
      "JSC_SIGNAL_FOR_GC",
    ],
    undefined,
  ),
  ...group(true, "changes networking: DNS, HTTP, WebSocket limits and timeouts, TLS sessions, IPv4/IPv6", [
    "BUN_CONFIG_DNS_TIME_TO_LIVE_SECONDS",
    "BUN_CONFIG_HTTP_IDLE_TIMEOUT",
    "BUN_CONFIG_HTTP_RETRY_BACKOFF",
    "BUN_CONFIG_HTTP_RETRY_COUNT",
    "BUN_CONFIG_MAX_HTTP_REQUESTS",
    "BUN_CONFIG_WS_CLOSE_TIMEOUT",
    "BUN_CONFIG_WS_HANDSHAKE_TIMEOUT",
    "BUN_FEATURE_FLAG_DISABLE_ADDRCONFIG",
    "BUN_FEATURE_FLAG_DISABLE_DNS_CACHE",
    "BUN_FEATURE_FLAG_DISABLE_FETCH_TLS_SESSION_CACHE",
    "BUN_FEATURE_FLAG_DISABLE_IPV4",
    "BUN_FEATURE_FLAG_DISABLE_IPV6",
    "BUN_FEATURE_FLAG_EXPERIMENTAL_HTTP2_CLIENT",
    "BUN_FEATURE_FLAG_EXPERIMENTAL_HTTP3_CLIENT",
    "BUN_FEATURE_FLAG_LAST_MODIFIED_PRETEND_304",
    "BUN_FEATURE_FLAG_DISABLE_REDIS_AUTO_PIPELINING",
    "BUN_FEATURE_FLAG_DISABLE_SQL_AUTO_PIPELINING",
    "BUN_FEATURE_FLAG_NO_LIBDEFLATE",
  ]),
  ...group(true, "changes I/O, the event loop, threads, child processes or the transpiler", [
    "BUN_FEATURE_FLAG_DISABLE_ASYNC_TRANSPILER",
    "BUN_FEATURE_FLAG_DISABLE_EPOLL_PWAIT2",
    "BUN_FEATURE_FLAG_DISABLE_IO_POOL",
    "BUN_FEATURE_FLAG_FORCE_IO_POOL",
    "BUN_FEATURE_FLAG_FORCE_WAITER_THREAD",
    "BUN_FEATURE_FLAG_DISABLE_MEMFD",
    "BUN_FEATURE_FLAG_DISABLE_RWF_NONBLOCK",
    "BUN_FEATURE_FLAG_DISABLE_SPAWNSYNC_FAST_PATH",
    "BUN_FEATURE_FLAG_DISABLE_STANDALONE_MADVISE",
    "BUN_FEATURE_FLAG_DISABLE_SIMD_SOURCEMAP",
    "BUN_FEATURE_FLAG_DISABLE_SOURCE_MAPS",
    "BUN_FEATURE_FLAG_DISABLE_ISOLATION_SOURCE_CACHE",
    "BUN_FEATURE_FLAG_NO_ORPHANS",
    "BUN_FEATURE_FLAG_FORCE_WINDOWS_JUNCTIONS",
    "BUN_FEATURE_FLAG_INTERNAL_FOR_TESTING",
    "BUN_FEATURE_FLAG_EXPERIMENTAL_BAKE",
    "BUN_CONFIG_DISABLE_COPY_FILE_RANGE",
    "BUN_CONFIG_DISABLE_ioctl_ficlonerange",
    "BUN_CONFIG_NO_CLEAR_TERMINAL_ON_RELOAD",
    "BUN_DISABLE_TRANSPILER",
    "BUN_ENABLE_EXPERIMENTAL_SHELL_BUILTINS",
    "BUN_INOTIFY_COALESCE_INTERVAL",
    "BUN_TMPDIR",
    "BUN_ENV",
  ]),
  ...group(true, "bun's package manager, test runner, dev server and upgrade commands (unreachable: BUN_BE_BUN erased)", [
    "BUN_INSTALL",
    "BUN_INSTALL_BIN",
    "BUN_INSTALL_CACHE_DIR",
    "BUN_INSTALL_GLOBAL_DIR",
    "BUN_INSTALL_GLOBAL_STORE",
    "BUN_INSTALL_PROGRESS",
    "BUN_INSTALL_STREAMING_DRAIN_THRESHOLD",
    "BUN_INSTALL_STREAMING_MIN_SIZE",
    "BUN_INSTALL_VERBOSE",
    "BUN_MANIFEST_CACHE",
    "BUN_CONFIG_REGISTRY",
    "BUN_CONFIG_TOKEN",
    "BUN_CONFIG_YARN_LOCKFILE",
    "BUN_CONFIG_SKIP_SAVE_LOCKFILE",
    "BUN_CONFIG_SKIP_LOAD_LOCKFILE",
    "BUN_CONFIG_SKIP_INSTALL_PACKAGES",
    "BUN_CONFIG_NO_VERIFY",
    "BUN_FEATURE_FLAG_DISABLE_IGNORE_SCRIPTS",
    "BUN_FEATURE_FLAG_DISABLE_INSTALL_INDEX",
    "BUN_FEATURE_FLAG_DISABLE_NATIVE_DEPENDENCY_LINKER",
    "BUN_FEATURE_FLAG_DISABLE_STREAMING_INSTALL",
    "BUN_CANARY",
    "BUN_DRY_RUN",
    "BUN_WHICH_IGNORE_CWD",
    "BUN_LINT_MEMORY",
    "BUN_NO_CODESIGN_MACHO_BINARY",
    "BUN_DEV_SERVER_TEST_RUNNER",
    "BUN_ASSUME_PERFECT_INCREMENTAL",
    "BUN_TEST_PARALLEL_SCALE_MS",
    "BUN_TEST_WORKER_ID",
    "BUN_DEBUG_TEST_CHECK_PROGRESS_DELAY_MS",
    "BUN_DEBUG_FORCE_NIX_HOST",
  ]),
  ...group(true, "bun's internal switches between its own processes", [
    "BUN_INTERNAL_BAKE_RESTART",
    "BUN_INTERNAL_BUNX_HAS_COPY",
    "BUN_INTERNAL_BUNX_INSTALL",
    "BUN_INTERNAL_CHECK_SCRIPTS",
    "BUN_INTERNAL_INTERACTIVE_ASSUME_TTY",
    "BUN_INTERNAL_NAPI_FORCE_MUSL_CHECK",
    "BUN_INTERNAL_SCRIPTS_OF_COMMANDS",
    "BUN_INTERNAL_SUPPRESS_CRASH_IN_BUN_RUN",
    "BUN_INTERNAL_SUPPRESS_CRASH_ON_NAPI_ABORT",
    "BUN_INTERNAL_SUPPRESS_CRASH_ON_UV_STUB",
    "BUN_INTERNAL_TEST_CHANGED_TRIGGER_FILE",
  ]),
  ...group(
    true,
    "Bun.plugin() / Bun.serve() / bun test defaults",
    ["BUN_PLUGIN_NAME", "BUN_PORT", "BUN_TEST_DRAIN_EVENT_LOOP"],
    "read by Bun.serve() given no port, plugins and `bun test` workers, none of which either binary uses",
  ),
  ...group(true, "a prefix: Bun warns about JSC_* variables that lack BUN_", ["JSC_"]),
  ...group(false, "Bun's built-in JavaScript only", ["BUN_DISABLE_DYNAMIC_CHUNK_SIZE"], "stream chunk sizing in Bun's built-in streams: performance only"),
  ...group(false, "Bun's built-in JavaScript only", ["BUN_FEATURE_FLAG_VERBOSE_WARNINGS"], "more detail in process warnings, which neither binary emits"),
  ...group(
    false,
    "Bun's built-in JavaScript only",
    ["BUN_WORKER_MESSAGING_KEY", "BUN_WORKER_PARENT_PORT_KEY", "BUN_WORKER_STDIO_KEY"],
    "not an environment variable: a private property key of Bun's workers and internals",
  ),
]);

/**
 * Names outside BUN_/JSC_ that the runtime reads with getenv() (found by tracing getenv() of both
 * binaries: tests/e2e/runtime-env.test.ts repeats that trace and fails on a name missing here).
 * Erased ones are found as whole strings in .rodata; kept ones are conventions that only change
 * how the runtime's own messages look, or debugging switches of WebKit's allocator.
 */
export const OTHER_ENV: ReadonlyMap<string, EnvName> = new Map([
  ...group(true, "forces a SIMD implementation of UTF-8 handling: a bad value stops the binary before it starts", ["SIMDUTF_FORCE_IMPLEMENTATION"]),
  ...group(true, "opens a Node IPC channel on a descriptor (a bad value adds a warning line to stderr)", [
    "NODE_CHANNEL_FD",
    "NODE_CHANNEL_SERIALIZATION_MODE",
  ]),
  ...group(true, "JSC's JIT and thread count", ["JavaScriptCoreUseJIT", "WTF_numberOfProcessorCores"]),
  ...group(true, "benchmark support: shifts the environment's size", ["HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET"]),
  ...group(true, "silences the runtime's warnings", ["NODE_NO_WARNINGS"]),
  ...group(true, "sizes the runtime's I/O thread pool", ["UV_THREADPOOL_SIZE", "GOMAXPROCS"]),
  ...group(false, 'the system allocator instead of bmalloc (memory use, never behaviour); "Malloc" shares its bytes with another string', [
    "Malloc",
    "MallocStackLogging",
    "MallocScribble",
    "MallocLogFile",
    "MallocHelp",
    "MallocGuardEdges",
    "MallocErrorAbort",
    "MallocDoNotProtectPrelude",
    "MallocDoNotProtectPostlude",
    "MallocCorruptionAbort",
    "MallocCheckHeapStart",
    "MallocCheckHeapSleep",
    "MallocCheckHeapEach",
    "MallocCheckHeapAbort",
    "WebKitMallocForceEnabled",
    "WebKitSystemHeapOverrideEnablement",
    "DYLD_INSERT_LIBRARIES",
  ]),
  ...group(false, "locale, time zone and colour of the runtime's own messages; our output is UTC and plain", [
    "TZ",
    "LANG",
    "LC_ALL",
    "LC_MESSAGES",
    "NO_COLOR",
    "FORCE_COLOR",
  ]),
  ...group(false, "read by libstdc++ itself, like the dynamic loader's LD_* (not the runtime)", ["GLIBCXX_TUNABLES"]),
]);

/** JSC option names ("JSC_" + camelCase, e.g. JSC_useJIT): all erased, whatever a WebKit upgrade adds. */
const JSC_OPTION = /^JSC_[a-z][A-Za-z0-9]*/;

/** An ELF section: where it is in the file. */
interface Section {
  readonly offset: number;
  readonly size: number;
}

/** The file ranges of the named sections of a 64-bit little-endian ELF file. */
export function elfSections(binary: Uint8Array): Map<string, Section> {
  const view = new DataView(binary.buffer, binary.byteOffset, binary.byteLength);
  if (view.getUint32(0) !== 0x7f454c46 || binary[4] !== 2 || binary[5] !== 1) throw new Error("not a 64-bit little-endian ELF file");
  const shoff = Number(view.getBigUint64(0x28, true));
  const entsize = view.getUint16(0x3a, true);
  const count = view.getUint16(0x3c, true);
  const names = Number(view.getBigUint64(shoff + view.getUint16(0x3e, true) * entsize + 0x18, true));
  const out = new Map<string, Section>();
  for (let i = 0; i < count; i++) {
    const header = shoff + i * entsize;
    const start = names + view.getUint32(header, true);
    const name = new TextDecoder().decode(binary.subarray(start, binary.indexOf(0, start)));
    out.set(name, { offset: Number(view.getBigUint64(header + 0x18, true)), size: Number(view.getBigUint64(header + 0x20, true)) });
  }
  return out;
}

const isIdent = (byte: number | undefined): boolean =>
  byte !== undefined && ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x5f);

/**
 * A name inside a message or a source text: after `$`, a quote, `(`, `>` (markup), a newline, `=`,
 * `.` (process.env.X), ESC[…m (bold help text), or after a space when text follows it (a name at
 * the end of its string, NUL next, is a name of its own placed after another string).
 */
function inMessage(binary: Uint8Array, at: number, length: number): boolean {
  const before = binary[at - 1];
  if (before === undefined) return false;
  if (before === 0x20) return binary[at + length] !== 0;
  if ("$\"'`(>\n\t=.".includes(String.fromCharCode(before))) return true;
  if (before === 0x6d) {
    // "\x1b[1m" and the like: bold or coloured text in a help message
    let i = at - 2;
    while (i > at - 8 && ((binary[i] ?? 0) === 0x3b || ((binary[i] ?? 0) >= 0x30 && (binary[i] ?? 0) <= 0x39))) i--;
    return binary[i] === 0x5b && binary[i - 1] === 0x1b;
  }
  return false;
}

/** One name found where the runtime reads it. */
export interface Found {
  readonly name: string;
  readonly at: number;
  readonly section: string;
}

/**
 * Every BUN_/JSC_ name in a section, with the longest classified name at each place; a place
 * no classified name fits is returned in `unclassified` (with its surrounding text).
 */
export function scanSection(binary: Uint8Array, section: string, range: Section): { found: Found[]; unclassified: string[] } {
  const found: Found[] = [];
  const unclassified: string[] = [];
  const end = range.offset + range.size;
  const text = Buffer.from(binary.buffer, binary.byteOffset, binary.byteLength).toString("latin1", range.offset, end);
  const pattern = /BUN_|JSC_/g;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const at = range.offset + m.index;
    if (binary[at - 1] === 0x5f) continue; // inside a longer name (IS_BUN_…, …_BUN_RUN)
    let name: string | undefined;
    for (let len = 4; at - range.offset + len <= text.length && isIdent(binary[at + len - 1]); len++) {
      const candidate = text.slice(m.index, m.index + len);
      if (RUNTIME_ENV.has(candidate)) name = candidate;
    }
    const option = JSC_OPTION.exec(text.slice(m.index, m.index + 128))?.[0];
    if (option !== undefined && option.length > (name?.length ?? 0)) name = option;
    let run = 0;
    while (isIdent(binary[at + run])) run++;
    if (section === ".rodata" && inMessage(binary, at, name?.length ?? run)) continue;
    if (binary[at + run] === 0x3d) {
      pattern.lastIndex = m.index + run; // NAME=value: an entry Bun builds for a child, or a message, not a name it reads
      continue;
    }
    const next = name === undefined ? undefined : binary[at + name.length];
    if (name === undefined || (next !== undefined && ((next >= 0x30 && next <= 0x39) || next === 0x5f) && name !== "JSC_")) {
      unclassified.push(`${section}+0x${(at - range.offset).toString(16)}: ${JSON.stringify(text.slice(Math.max(0, m.index - 24), m.index + 64))}`);
      continue;
    }
    found.push({ name, at, section });
    pattern.lastIndex = m.index + name.length;
  }
  return { found, unclassified };
}

/** Where each erased OTHER_ENV name stands as a whole name in .rodata (not in a message, not NAME=). */
export function scanOtherNames(binary: Uint8Array, range: Section): { found: Found[]; missing: string[] } {
  const found: Found[] = [];
  const missing: string[] = [];
  const region = binary.subarray(range.offset, range.offset + range.size);
  for (const [name, { erase }] of OTHER_ENV) {
    if (!erase) continue;
    const needle = new TextEncoder().encode(name);
    let count = 0;
    for (let i = region.indexOf(needle[0] as number); i >= 0; i = region.indexOf(needle[0] as number, i + 1)) {
      if (!needle.every((byte, k) => region[i + k] === byte)) continue;
      const at = range.offset + i;
      const next = binary[at + name.length];
      if (binary[at - 1] === 0x5f || isIdent(next) || next === 0x3d || inMessage(binary, at, name.length)) continue;
      found.push({ name, at, section: ".rodata" });
      count++;
    }
    if (count === 0) missing.push(name);
  }
  return { found, missing };
}

/**
 * The BUN_JSC_ loop of JSCInitialize: eight `cmp byte [reg+k], "BUN_JSC_"[k]` each followed by a
 * `jne` to the loop's next entry. Returns the offset of the first `jne`, or every candidate's.
 */
export function findJscOptionPrefix(binary: Uint8Array, text: Section): number[] {
  const prefix = "BUN_JSC_";
  const out: number[] = [];
  // One compare: [REX] 80 /7 modrm(mod 00 or 01) [disp8] imm8, then jne rel8 (75) or rel32 (0f 85).
  const compare = (at: number): { disp: number; imm: number; jne: number; next: number; target: number } | undefined => {
    let i = at;
    if ((binary[i] ?? 0) >= 0x40 && (binary[i] ?? 0) <= 0x4f) i++;
    if (binary[i] !== 0x80) return undefined;
    const modrm = binary[i + 1] ?? 0;
    if (((modrm >> 3) & 7) !== 7 || (modrm & 7) === 4 || (modrm & 7) === 5) return undefined;
    const mod = modrm >> 6;
    let disp = 0;
    i += 2;
    if (mod === 1) disp = binary[i++] ?? 0;
    else if (mod !== 0) return undefined;
    const imm = binary[i++] ?? 0;
    if (binary[i] === 0x75) return { disp, imm, jne: i, next: i + 2, target: i + 2 + (((binary[i + 1] ?? 0) << 24) >> 24) };
    if (binary[i] === 0x0f && binary[i + 1] === 0x85) {
      const rel = new DataView(binary.buffer, binary.byteOffset + i + 2, 4).getInt32(0, true);
      return { disp, imm, jne: i, next: i + 6, target: i + 6 + rel };
    }
    return undefined;
  };
  const end = text.offset + text.size;
  for (let at = binary.indexOf(0x42, text.offset); at >= 0 && at < end; at = binary.indexOf(0x42, at + 1)) {
    // at is a candidate imm8 'B': the instruction starts 2 or 3 bytes before (+1 with a REX prefix)
    for (const back of [2, 3, 4]) {
      const first = compare(at - back);
      if (first === undefined || first.disp !== 0 || first.imm !== 0x42) continue;
      let ok = true;
      let cursor = first.next;
      for (let k = 1; k < prefix.length && ok; k++) {
        const step = compare(cursor);
        ok = step !== undefined && step.disp === k && step.imm === prefix.charCodeAt(k) && step.target === first.target;
        if (step) cursor = step.next;
      }
      if (ok && !out.includes(first.jne)) out.push(first.jne);
    }
  }
  return out;
}

/** What patchRuntimeEnv() did to one binary. */
export interface PatchReport {
  readonly erased: ReadonlyMap<string, number>;
  readonly jscPrefixAt: number;
}

/**
 * Makes every runtime environment name of `binary` inert, in place: erases the classified names
 * in .rodata and disables the BUN_JSC_ loop. Throws, naming them, on unclassified names, a
 * classified name found nowhere, or a BUN_JSC_ loop not found exactly once.
 */
export function patchRuntimeEnv(binary: Uint8Array): PatchReport {
  const sections = elfSections(binary);
  const get = (name: string): Section => {
    const s = sections.get(name);
    if (!s) throw new Error(`no ${name} section: not the Bun executable layout this build knows`);
    return s;
  };
  const rodata = scanSection(binary, ".rodata", get(".rodata"));
  const builtins = scanSection(binary, ".bun_builtins", get(".bun_builtins"));
  const problems = [...rodata.unclassified, ...builtins.unclassified].map((where) => `unclassified environment name at ${where}`);
  for (const { name } of builtins.found) {
    if (RUNTIME_ENV.get(name)?.js === undefined && !JSC_OPTION.test(name))
      problems.push(`${name} is read by Bun's built-in JavaScript: say why that is harmless (js)`);
  }
  const seen = new Set([...rodata.found, ...builtins.found].map((f) => f.name));
  for (const name of RUNTIME_ENV.keys()) if (!seen.has(name)) problems.push(`${name} is classified but not in this runtime: remove it from RUNTIME_ENV`);
  const others = scanOtherNames(binary, get(".rodata"));
  for (const name of others.missing) problems.push(`${name} (OTHER_ENV) is not in this runtime's strings: check how this Bun reads it`);
  const jsc = findJscOptionPrefix(binary, get(".text"));
  if (jsc.length !== 1) problems.push(`the BUN_JSC_ option loop was found ${jsc.length} times, not once: check how this Bun reads BUN_JSC_*`);
  if (problems.length > 0) throw new Error(`scripts/runtime-env.ts:\n  ${[...new Set(problems)].join("\n  ")}`);

  const erased = new Map<string, number>();
  for (const { name, at } of [...rodata.found, ...others.found]) {
    if (!(RUNTIME_ENV.get(name) ?? OTHER_ENV.get(name))?.erase && !(JSC_OPTION.test(name) && !RUNTIME_ENV.has(name))) continue;
    binary[at] = 0;
    erased.set(name, (erased.get(name) ?? 0) + 1);
  }
  const at = jsc[0] as number;
  if (binary[at] === 0x75) binary[at] = 0xeb;
  else {
    // jne rel32 (0f 85) → nop; jmp rel32 (90 e9): same length, same target.
    binary[at] = 0x90;
    binary[at + 1] = 0xe9;
  }
  return { erased, jscPrefixAt: at };
}
