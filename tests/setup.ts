/**
 * Preloaded before every test file (bunfig.toml). The 60 s default per test (e2e tests run real
 * containers) is `bun test --timeout 60000` in package.json: with more than one file, bun 1.4.5
 * applies a preload's setDefaultTimeout to none of them (a 6 s test then fails at 5 s).
 */
export {};
