// StrykerJS over lib/ (`npm run mutation`; not part of `npm test`). See docs/mutation-testing.md.
// Each test file runs with node directly: tap's TypeScript loader, without type checking (the checker below and
// `npm run typecheck` do that), and tap's mock loader for t.mockImport.
process.env.TS_NODE_TRANSPILE_ONLY = '1'

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  "packageManager": "npm",
  "testRunner": "tap",
  "checkers": [
    "typescript"
  ],
  "tsconfigFile": "tsconfig.json",
  "typescriptChecker": {
    "prioritizePerformanceOverAccuracy": true
  },
  "mutate": [
    "lib/**/*.ts",
    "!lib/**/*.d.ts",
    "!lib/types.ts",
    "!lib/index.ts"
  ],
  "ignorePatterns": [
    "dist",
    "coverage",
    ".tap",
    "reports",
    "bench/results",
    "soak"
  ],
  "tap": {
    "testFiles": [
      "test/autoload-hook.test.ts",
      "test/autoload.test.ts",
      "test/conformance-index.test.ts",
      "test/conformance-broken-store.test.ts",
      "test/connect-store-limits.test.ts",
      "test/connect-store-memory.test.ts",
      "test/connect-store.test.ts",
      "test/cookie-store-format.test.ts",
      "test/cookie-store-gc-ttl.test.ts",
      "test/cookie-store-plugin.test.ts",
      "test/cookie-store.test.ts",
      "test/end-of-request.test.ts",
      "test/expiry.test.ts",
      "test/fifo-cache.test.ts",
      "test/lazy-loading.test.ts",
      "test/memory-store-flood.test.ts",
      "test/memory-store-index.test.ts",
      "test/memory-store.test.ts",
      "test/migrate-errors.test.ts",
      "test/migrate.test.ts",
      "test/options.test.ts",
      "test/path-autoload-raw-url.test.ts",
      "test/property-access.test.ts",
      "test/property-memory-store.test.ts",
      "test/regenerate-destroy.test.ts",
      "test/regenerate-keep.test.ts",
      "test/security.test.ts",
      "test/session-api.test.ts",
      "test/session-decorator.test.ts",
      "test/session-options.test.ts",
      "test/skip-header.test.ts",
      "test/store-errors.test.ts"
    ],
    "nodeArgs": [
      "--import=@tapjs/typescript/import",
      "--import=@tapjs/mock/import",
      "-r",
      "{{hookFile}}",
      "{{testFile}}"
    ]
  },
  "coverageAnalysis": "perTest",
  "ignoreStatic": true,
  "concurrency": 2,
  "timeoutMS": 20000,
  "timeoutFactor": 2,
  "incremental": true,
  "incrementalFile": "reports/stryker-incremental.json",
  "reporters": [
    "clear-text",
    "progress",
    "html",
    "json"
  ],
  "htmlReporter": {
    "fileName": "reports/mutation/mutation.html"
  },
  "jsonReporter": {
    "fileName": "reports/mutation/mutation.json"
  },
  "tempDirName": ".stryker-tmp",
  "cleanTempDir": "always"
}
