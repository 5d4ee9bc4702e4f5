/** What the hook reads from `<bundle>/config.json` (runtime-spec config.md). */
import * as v from "valibot";
import { ArmorError, errnoOf } from "../errors.ts";
import { parseJson, parseWith } from "../validate.ts";
import { AnnotationsSchema } from "./state.ts";

/** Largest config.json the hook reads. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

const ConfigSchema = v.looseObject({
  process: v.optional(
    v.looseObject({
      args: v.optional(v.array(v.string())),
      apparmorProfile: v.optional(v.string()),
    }),
  ),
  annotations: v.optional(AnnotationsSchema),
});

/** The parts of a bundle's config.json armor-hooks uses. */
export interface BundleConfig {
  apparmorProfile: string | null;
  args: string[];
  annotations: Record<string, string>;
}

/** Reads a file as text; injected so tests need no real bundle. */
export type ReadText = (path: string) => Promise<string>;

/** `<bundle>/config.json`. */
export function configPath(bundle: string): string {
  return `${bundle.replace(/\/+$/, "")}/config.json`;
}

/** Reads and validates `<bundle>/config.json`; throws E_BUNDLE naming the file and the problem. */
export async function readBundleConfig(bundle: string, readText: ReadText): Promise<BundleConfig> {
  const path = configPath(bundle);
  let text: string;
  try {
    text = await readText(path);
  } catch (err) {
    throw unreadableConfig(path, err);
  }
  return parseBundleConfig(path, text);
}

/** The E_BUNDLE error for a config.json that could not be read. */
export function unreadableConfig(path: string, err: unknown): ArmorError {
  const errno = errnoOf(err);
  // A reader that refuses what is not a regular file (lib/safe-read.ts) says why in `reason`.
  const refused = typeof err === "object" && err !== null && "reason" in err && typeof err.reason === "string" ? err.reason : undefined;
  const reason = errno === "ENOENT" ? "not found" : (refused ?? errno ?? (err instanceof Error ? err.message : String(err)));
  return new ArmorError("E_BUNDLE", `${path}: ${reason}`, { cause: err });
}

/** Validates the text of config.json at `path` (read by the caller, at most MAX_CONFIG_BYTES + 1 bytes); throws E_BUNDLE. */
export function parseBundleConfig(path: string, text: string): BundleConfig {
  if (text.length > MAX_CONFIG_BYTES) throw new ArmorError("E_BUNDLE", `${path}: larger than ${MAX_CONFIG_BYTES} bytes`);
  const config = parseWith(ConfigSchema, parseJson(text, path, "E_BUNDLE"), path, "E_BUNDLE");
  const profile = config.process?.apparmorProfile;
  return {
    apparmorProfile: profile === undefined || profile === "" ? null : profile,
    args: config.process?.args ?? [],
    annotations: config.annotations ?? {},
  };
}
