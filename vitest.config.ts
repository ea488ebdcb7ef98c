import { defineConfig } from "vitest/config";
import { WORKERS } from "./scripts/test-run/plan";
import PlannedSequencer from "./scripts/test-run/sequencer";

// Three projects, by what a test needs besides Node:
// - `unit`: nothing (no server, no Go, no git): `npm run test:unit` runs anywhere `npm ci` ran;
// - `integration` (`*.integration.test.ts`): git, Go or apt — a git ref as the review's base, actionlint and
//   promtool got by tools/build.sh;
// - `e2e` (test/e2e/): the real-server suites (PostgreSQL, Vault and OpenTofu on 127.0.0.1, each with its own
//   servers, ports and folders). Its global setup builds their tools (tools/build.sh) in the background, stage
//   by stage (scripts/test-run/stages.ts), and each suite waits for the stages it needs.
// All three run side by side, WORKERS files at a time (scripts/test-run/plan.ts: the real-server suites mostly wait), in the
// order of scripts/test-run/sequencer.ts: the files whose tools are ready first, and among those the longest first.
// Besides the console's default reporter, every run writes test-results/vitest.json (files, tests, durations) and
// test-results/times.json (scripts/test-run/timing-reporter.ts: each file's wall time), which `npm run figures`
// (scripts/figures.ts) turns into docs/reliability.md, docs/test-times.json and the times in docs/testing.md.
// test/setup.ts silences cdktf 0.21's one known deprecation in the test workers, which synthesize stacks
// in-process, as main.ts does in the app (stacks/cdktf-warnings.ts).
export default defineConfig({
  test: {
    setupFiles: ["test/setup.ts"],
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }], "./scripts/test-run/timing-reporter.ts"],
    maxWorkers: WORKERS,
    sequence: { sequencer: PlannedSequencer },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**", "test/**/*.integration.test.ts"],
          testTimeout: 60_000,
          // setups that run main.ts or synthesize every stack take seconds; under a loaded machine, more than vitest's 10 s.
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.integration.test.ts"],
          exclude: ["test/e2e/**"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
