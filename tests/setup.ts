/** Preloaded before every test file (bunfig.toml): e2e tests build bundles and run real containers. */
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(60_000);
