/**
 * `npm run figures`: writes docs/reliability.md from what the last test run left in test-results/ — never
 * from numbers copied by hand — and the per-file times (docs/test-times.json, the table in docs/testing.md).
 *
 * Inputs (JSON only; nothing here imports the tests): test-results/vitest.json, vitest's JSON report
 * (figures/vitest-run.ts), and test-results/figures/<suite>.json, which the reliability suites write after
 * their assertions (test/e2e/fixture/figures.ts) and which are read through the figures contract
 * (figures/contract.ts). figures/reliability.ts renders the page; a run of single files, figures of an
 * earlier run and figures an older suite wrote are said as such there.
 *
 * Environment: KEYBUZZ_TEST_RESULTS (default `test-results`) and KEYBUZZ_RELIABILITY_OUT (default
 * `docs/reliability.md`), both relative to the project root. Exit status: 0 written (figures that do not match
 * the contract are left out, each named on stderr); 1 an input is missing or unreadable (nothing written).
 */
import { join, relative, resolve, sep } from "node:path";
import { writeReliability } from "../figures/reliability";
import { PROJECT_ROOT } from "../figures/vitest-run";
import { writeTestTimes } from "./test-run/times";

const resultsDir = resolve(PROJECT_ROOT, process.env.KEYBUZZ_TEST_RESULTS ?? "test-results");
const output = resolve(PROJECT_ROOT, process.env.KEYBUZZ_RELIABILITY_OUT ?? join("docs", "reliability.md"));
try {
  const { problems } = writeReliability({ resultsDir, output });
  for (const problem of problems) process.stderr.write(`[figures] left out, not as figures/contract.ts says: ${problem}\n`);
  process.stderr.write(`[figures] wrote ${relative(process.cwd(), output) || output}\n`);
  const times = writeTestTimes({
    recordPath: join(resultsDir, "times.json"),
    testingPage: resolve(PROJECT_ROOT, "docs", "testing.md"),
    timesPath: resolve(PROJECT_ROOT, "docs", "test-times.json"),
  });
  process.stderr.write(`[figures] ${times.replaceAll(`${PROJECT_ROOT}${sep}`, "")}\n`);
} catch (err) {
  process.stderr.write(`[figures] ${(err as Error).message}\n`);
  process.exit(1);
}
