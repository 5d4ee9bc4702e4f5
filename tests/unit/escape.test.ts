import { describe, expect, test } from "bun:test";
import { escapeJson, escapeText } from "../../lib/escape.ts";

describe("escapeText()", () => {
  test.each([
    ["plain ASCII", "shop/web-0", "shop/web-0"],
    ["other scripts and emoji", "café 日本 🚀", "café 日本 🚀"],
    ["a newline, CR and tab", "a\nb\rc\td", "a\\nb\\rc\\td"],
    ["NUL and BEL", "a\u0000b\u0007", "a\\u0000b\\u0007"],
    ["an ESC colour sequence", "\u001b[31mred\u001b[0m", "\\u001b[31mred\\u001b[0m"],
    ["a terminal title (OSC) sequence", "\u001b]0;pwned\u0007", "\\u001b]0;pwned\\u0007"],
    ["a clear-screen sequence", "\u001b[2J\u001b[H", "\\u001b[2J\\u001b[H"],
    ["DEL", "a\u007fb", "a\\u007fb"],
    ["C1 CSI (U+009B) and NEL (U+0085)", "\u009b31m\u0085", "\\u009b31m\\u0085"],
    ["RIGHT-TO-LEFT OVERRIDE", "invoice\u202egnp.exe", "invoice\\u202egnp.exe"],
    ["every embedding and override", "\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e"],
    ["every isolate", "\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"],
    ["LRM, RLM and ARABIC LETTER MARK", "\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"],
    ["LINE and PARAGRAPH SEPARATOR", "a\u2028b\u2029c", "a\\u2028b\\u2029c"],
    ["a backslash, so an escape reads back unambiguously", "a\\u001b", "a\\\\u001b"],
    ["a lone surrogate", "a\ud800b\udc00", "a\\ud800b\\udc00"],
  ])("%s", (_, input, shown) => {
    expect(escapeText(input)).toBe(shown);
  });

  test("leaves no character a terminal obeys", () => {
    let all = "";
    for (let c = 0; c < 0x3000; c++) all += String.fromCharCode(c);
    expect(escapeText(all)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
  });
});

describe("escapeJson()", () => {
  test("escapes what JSON.stringify leaves raw, and the document parses the same", () => {
    const value = { name: "a\u202eb\u009b\u2028c\u007f", esc: "\u001b[2J" };
    const json = escapeJson(JSON.stringify(value));
    expect(json).toBe('{"name":"a\\u202eb\\u009b\\u2028c\\u007f","esc":"\\u001b[2J"}');
    expect(JSON.parse(json)).toEqual(value);
  });
});
