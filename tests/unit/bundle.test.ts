import { describe, expect, test } from "bun:test";
import { MAX_CONFIG_BYTES, readBundleConfig, type ReadText } from "../../lib/oci/bundle.ts";
import { rejectionOf } from "./_fixtures.ts";

/** A ReadText serving one config.json, recording the paths it was asked for. */
function files(content: Record<string, string>): { readText: ReadText; asked: string[] } {
  const asked: string[] = [];
  const readText: ReadText = async (path) => {
    asked.push(path);
    const text = content[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
    return text;
  };
  return { readText, asked };
}

const withConfig = (config: unknown): ReadText => files({ "/b/config.json": JSON.stringify(config) }).readText;

describe("readBundleConfig()", () => {
  test("reads the AppArmor profile, args and annotations", async () => {
    const config = await readBundleConfig(
      "/b",
      withConfig({ ociVersion: "1.2.0", process: { args: ["sh", "-c", "true"], apparmorProfile: "armor-default", cwd: "/" }, annotations: { a: "1" } }),
    );
    expect(config).toEqual({ apparmorProfile: "armor-default", args: ["sh", "-c", "true"], annotations: { a: "1" } });
  });

  test("reads <bundle>/config.json, also when the bundle path ends in slashes", async () => {
    const { readText, asked } = files({ "/b/config.json": "{}" });
    await readBundleConfig("/b//", readText);
    expect(asked).toEqual(["/b/config.json"]);
  });

  test.each([
    ["no process", {}],
    ["a process without apparmorProfile", { process: { args: ["true"] } }],
    ["an empty apparmorProfile", { process: { apparmorProfile: "" } }],
  ])("gives a null profile for %s", async (_name, config) => {
    expect((await readBundleConfig("/b", withConfig(config))).apparmorProfile).toBeNull();
  });

  test("defaults args and annotations to empty", async () => {
    expect(await readBundleConfig("/b", withConfig({}))).toEqual({ apparmorProfile: null, args: [], annotations: {} });
  });

  test("refuses a missing config.json with E_BUNDLE naming the file as not found", async () => {
    const err = await rejectionOf(readBundleConfig("/nowhere", files({}).readText));
    expect(err.code).toBe("E_BUNDLE");
    expect(err.message).toBe("/nowhere/config.json: not found");
  });

  test("names the errno of another read failure", async () => {
    const readText: ReadText = async () => {
      throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    };
    const err = await rejectionOf(readBundleConfig("/b", readText));
    expect(err.code).toBe("E_BUNDLE");
    expect(err.message).toBe("/b/config.json: EACCES");
  });

  test.each([
    ["empty", "", "/b/config.json is empty"],
    ["not JSON", "{not json", /^\/b\/config\.json is not valid JSON \(.+\)$/],
    ["a JSON string", '"x"', /^\/b\/config\.json: .*Object/],
    ["apparmorProfile not a string", '{"process":{"apparmorProfile":7}}', /^\/b\/config\.json: process\.apparmorProfile: .*string/],
    ["args not strings", '{"process":{"args":[1]}}', /^\/b\/config\.json: process\.args\.0: .*string/],
    ["annotation not a string", '{"annotations":{"a":true}}', /^\/b\/config\.json: annotations\.a: .*string/],
  ])("refuses a config.json that is %s with E_BUNDLE", async (_name, text, message) => {
    const err = await rejectionOf(readBundleConfig("/b", files({ "/b/config.json": text }).readText));
    expect(err.code).toBe("E_BUNDLE");
    if (typeof message === "string") expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
  });

  test("refuses a config.json larger than MAX_CONFIG_BYTES", async () => {
    const huge = `{"pad":"${"x".repeat(MAX_CONFIG_BYTES)}"}`;
    const err = await rejectionOf(readBundleConfig("/b", files({ "/b/config.json": huge }).readText));
    expect(err.code).toBe("E_BUNDLE");
    expect(err.message).toBe(`/b/config.json: larger than ${MAX_CONFIG_BYTES} bytes`);
  });
});
