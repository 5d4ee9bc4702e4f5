/**
 * Human output of text a pod author controls — annotations, names, args, paths, and messages
 * quoting them. Printed raw, such text can move the cursor, recolour or clear a terminal (C0/C1
 * controls, ESC sequences, DEL), split one line into two (newlines, U+2028/U+2029), or reorder
 * what a reader sees (bidirectional controls: "…txt.exe" shown as "…exe.txt"). Each such
 * character is shown as an escape instead, and a backslash as `\\`, so what is shown reads back
 * unambiguously. Everything else, other scripts and emoji included, is shown as it is.
 */

/**
 * C0 controls (ESC starts every terminal escape sequence), DEL, C1 controls (U+009B is the
 * one-character CSI), the backslash, U+061C ARABIC LETTER MARK, U+200E/U+200F LRM/RLM,
 * U+2028/U+2029 LINE/PARAGRAPH SEPARATOR, U+202A–U+202E embeddings and overrides, U+2066–U+2069
 * isolates, and a lone surrogate (no character: a terminal would show U+FFFD).
 */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\\\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const SHORT: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\" };

const escapeOne = (c: string): string => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** `text` safe to print to a terminal as one line: see the module comment for what is escaped and how. */
export function escapeText(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/**
 * Characters JSON.stringify leaves raw that a terminal still obeys: DEL, C1, the bidirectional
 * controls and the separators. They can only stand inside JSON strings, where `\uXXXX` means
 * the same character, so the document a parser reads is unchanged.
 */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON text (from JSON.stringify) safe to print to a terminal, meaning the same to a parser. */
export function escapeJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, escapeOne);
}
