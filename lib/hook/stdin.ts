/** Reading the OCI state from stdin without ever holding more than the limit of it. */
import { ArmorError } from "../errors.ts";

/**
 * Reads a stream as UTF-8 text, up to `maxBytes`: a longer stream is refused as soon
 * as it passes the limit (E_STATE), without reading or buffering the rest.
 */
export async function readBoundedText(stream: ReadableStream<Uint8Array>, maxBytes: number, signal?: AbortSignal): Promise<string> {
  const reader = stream.getReader();
  // The hook's deadline ends the read: a stdin that never closes is not waited for.
  const cancel = (): void => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) throw new ArmorError("E_STATE", `OCI state on stdin is larger than ${maxBytes} bytes`);
      chunks.push(value);
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
  return new TextDecoder().decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
}
