/**
 * The test run `npm run figures` summarizes, read from test-results/vitest.json (vitest's JSON report, which
 * vitest.config.ts writes on every run): each file's project, status, counts and times.
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";

/** The project root. */
export const PROJECT_ROOT = resolve(__dirname, "..");

/** The parts of vitest's JSON report (reporter `json`) read here. */
interface VitestReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests?: number;
  startTime: number;
  success: boolean;
  testResults: {
    name: string;
    status: "passed" | "failed";
    startTime: number;
    endTime: number;
    message?: string;
    assertionResults: { status: string; fullName: string; duration?: number | null }[];
  }[];
}

/** A vitest project of vitest.config.ts. */
export type Project = "unit" | "integration" | "e2e";

/** One test file of the run. */
export interface FileResult {
  /** Relative to the project root, with `/`. */
  file: string;
  project: Project;
  status: "passed" | "failed" | "skipped";
  tests: number;
  passed: number;
  failed: number;
  skipped: number;
  /** From its first test's start to its last test's end (hooks such as a suite's deploy in beforeAll not included). */
  ms: number;
  startTime: number;
  endTime: number;
}

/** The whole run: its span, its files, its counts. */
export interface Run {
  startTime: number;
  endTime: number;
  files: FileResult[];
  tests: number;
  passed: number;
  failed: number;
  skipped: number;
}

/** Which vitest project a file belongs to: the rules of vitest.config.ts. */
export function projectOf(file: string): Project {
  if (file.startsWith("test/e2e/")) return "e2e";
  if (file.endsWith(".integration.test.ts")) return "integration";
  return "unit";
}

/** The parsed JSON of `path`; an error naming `what` and the file when it cannot be read or parsed. */
export function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** The run in `<resultsDir>/vitest.json`; a clear error when there is none. */
export function readRun(resultsDir: string, root = PROJECT_ROOT): Run {
  const path = join(resultsDir, "vitest.json");
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run the tests first (\`npm test\`; vitest.config.ts writes it on every run), then \`npm run figures\``);
  }
  const report = readJson(path, "vitest's JSON report") as VitestReport;
  if (!Array.isArray(report.testResults) || typeof report.startTime !== "number") {
    throw new Error(`${path} is not vitest's JSON report (no testResults or startTime)`);
  }
  const files = report.testResults.map((r): FileResult => {
    const rel = isAbsolute(r.name) ? relative(root, r.name) : r.name;
    const file = rel.split(sep).join("/");
    const tests = r.assertionResults.length;
    const passed = r.assertionResults.filter((a) => a.status === "passed").length;
    const failed = r.assertionResults.filter((a) => a.status === "failed").length;
    const skipped = tests - passed - failed;
    const status = r.status === "failed" || failed > 0 ? "failed" : tests > 0 && skipped === tests ? "skipped" : "passed";
    return {
      file,
      project: projectOf(file),
      status,
      tests,
      passed,
      failed,
      skipped,
      ms: r.endTime - r.startTime,
      startTime: r.startTime,
      endTime: r.endTime,
    };
  });
  files.sort((a, b) => a.project.localeCompare(b.project) || a.file.localeCompare(b.file));
  return {
    startTime: report.startTime,
    endTime: Math.max(report.startTime, ...files.map((f) => f.endTime)),
    files,
    tests: report.numTotalTests,
    passed: report.numPassedTests,
    failed: report.numFailedTests,
    skipped: report.numPendingTests + (report.numTodoTests ?? 0),
  };
}
