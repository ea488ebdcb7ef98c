/** A fake project root with test-results/ in it, and the files a test run leaves there, for the figures/ tests. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FiguresFile, SuiteFigures, SuiteName } from "../../figures/contract";

const dirs: string[] = [];

/** Removes every project {@link project} made (call in afterAll). */
export function removeProjects(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A fake project root with test-results/figures/ in it, and where the page would go. */
export function project(): { root: string; results: string; output: string } {
  const root = mkdtempSync(join(tmpdir(), "keybuzz-figures-"));
  dirs.push(root);
  const results = join(root, "test-results");
  mkdirSync(join(results, "figures"), { recursive: true });
  return { root, results, output: join(root, "docs", "reliability.md") };
}

export const START = Date.parse("2026-11-29T10:00:00Z");
/** `minutes` after the run started, in ms since the epoch. */
export const at = (minutes: number) => START + minutes * 60_000;

/** A file of vitest's JSON report: `statuses` one per test. */
export function file(root: string, name: string, start: number, end: number, statuses: string[]) {
  const failed = statuses.includes("failed");
  return {
    name: join(root, name),
    status: failed ? "failed" : "passed",
    startTime: start,
    endTime: end,
    message: "",
    assertionResults: statuses.map((status, i) => ({ status, title: `t${i}`, fullName: `${name} t${i}`, duration: 1 })),
  };
}

/** test-results/vitest.json of a run of `files`, started at {@link START}. */
export function vitestJson(results: string, files: ReturnType<typeof file>[]): void {
  const all = files.flatMap((f) => f.assertionResults);
  writeFileSync(
    join(results, "vitest.json"),
    JSON.stringify({
      numTotalTests: all.length,
      numPassedTests: all.filter((a) => a.status === "passed").length,
      numFailedTests: all.filter((a) => a.status === "failed").length,
      numPendingTests: all.filter((a) => a.status === "skipped" || a.status === "pending").length,
      numTodoTests: 0,
      startTime: START,
      success: !all.some((a) => a.status === "failed"),
      testResults: files,
    }),
  );
}

/** test-results/figures/<suite>.json as recordFigures writes it, on a "Test CPU" machine. */
export function figures<S extends SuiteName>(results: string, suite: S, recordedAt: number, f: SuiteFigures<S>): void {
  const record: FiguresFile<S> = {
    suite,
    recordedAt: new Date(recordedAt).toISOString(),
    node: "v20.0.0",
    platform: "linux 6.1 x64",
    cpus: 2,
    cpuModel: "Test CPU",
    memoryGiB: 8,
    figures: f,
  };
  writeFileSync(join(results, "figures", `${suite}.json`), JSON.stringify(record));
}

/** A figures file with whatever `f` is, as an older version of a suite may have written it. */
export function olderFigures(results: string, suite: string, recordedAt: number, f: unknown): void {
  writeFileSync(
    join(results, "figures", `${suite}.json`),
    JSON.stringify({ suite, recordedAt: new Date(recordedAt).toISOString(), node: "v20.0.0", platform: "linux 6.1 x64", cpus: 2, figures: f }),
  );
}

/** What the churn suite records in a typical run: the figures the tests of the contract and the page start from. */
export const CHURN: SuiteFigures<"churn"> = {
  postgres: "PostgreSQL 17.4",
  server: "OpenBao 2.6.2",
  cycles: 5000,
  concurrency: 16,
  seconds: 66.71,
  cyclesPerSecond: 74.95,
  cycleP50Ms: 208,
  cycleP99Ms: 346,
  sessions: 500,
  sessionsEndedByRevocation: 500,
  failedCycles: 0,
  rolesLeft: 0,
  leasesLeft: 0,
  irrevocable: 0,
  tablesCreated: 1000,
  tablesOwnedByBaseRoles: 1000,
  strayObjects: 0,
};
