import { defineConfig } from "vitest/config";

// Three projects, by what a test needs besides Node:
// - `unit`: nothing (no server, no Go, no git): `npm run test:unit` runs anywhere `npm ci` ran;
// - `integration` (`*.integration.test.ts`): git, Go or apt — a git ref as the review's base, actionlint and
//   promtool got by tools/build.sh;
// - `e2e` (test/e2e/): the real-server suites (PostgreSQL, Vault and OpenTofu on 127.0.0.1), one file at a time
//   (vitest runs such files after the other projects' and never beside one another); its globalSetup builds or
//   finds the tools once (tools/build.sh) and skips the suite outside CI when they cannot be had.
// Besides the console's default reporter, every run writes test-results/vitest.json (files, tests, durations),
// which `npm run figures` (scripts/figures.ts) turns into docs/reliability.md with the suites' figures.
export default defineConfig({
  test: {
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }]],
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**", "test/**/*.integration.test.ts"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/**/*.integration.test.ts"],
          exclude: ["test/e2e/**"],
          testTimeout: 300_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
