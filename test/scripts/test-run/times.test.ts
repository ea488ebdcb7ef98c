/**
 * scripts/test-run/times.ts: the generated times section of docs/testing.md and docs/test-times.json, from the record
 * scripts/test-run/timing-reporter.ts writes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  isFullRun,
  type RecordedTimes,
  renderSection,
  replaceSection,
  SECTION_END,
  SECTION_START,
  writeTestTimes,
} from "../../../scripts/test-run/times";
import { ROOT } from "../../helpers";

const record = (over: Partial<RecordedTimes> = {}): RecordedTimes => ({
  startedAt: "2026-12-06T04:00:00.000Z",
  endedAt: "2026-12-06T04:15:30.000Z",
  wallMs: 930_000,
  workers: 4,
  built: [],
  files: {
    "test/a.test.ts": { project: "unit", ms: 2_500, state: "passed" },
    "test/b.integration.test.ts": { project: "integration", ms: 9_000, state: "passed" },
    "test/e2e/irrevocable.test.ts": { project: "e2e", ms: 730_000, state: "passed" },
  },
  ...over,
});

function scratch(rec: RecordedTimes) {
  const dir = mkdtempSync(join(tmpdir(), "keybuzz-times-"));
  const paths = { recordPath: join(dir, "times.json"), testingPage: join(dir, "testing.md"), timesPath: join(dir, "test-times.json") };
  writeFileSync(paths.recordPath, JSON.stringify(rec));
  writeFileSync(paths.testingPage, `# Tests\n\nbefore\n\n${SECTION_START}\nold\n${SECTION_END}\n\nafter\n`);
  return paths;
}

describe("the times of a run", () => {
  it("lists every file, longest first, with the run's total", () => {
    const section = renderSection(record());
    expect(section).toContain("The last run: **15.5 min** of vitest (2026-12-06 04:00 to 04:15 UTC), 4 files at a time; every tool was cached.");
    const rows = section.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows).toEqual([
      "| `test/e2e/irrevocable.test.ts` | e2e | 12.2 min | passed |",
      "| `test/b.integration.test.ts` | integration | 9.0 s | passed |",
      "| `test/a.test.ts` | unit | 2.5 s | passed |",
    ]);
  });

  it("says when a run is not a full passing one, or built tools", () => {
    const partial = record({ files: { "test/a.test.ts": { project: "unit", ms: 1, state: "passed" } } });
    expect(isFullRun(partial)).toBe(false);
    expect(renderSection(partial)).toContain("**Not a full passing run**");
    const failed = record();
    expect(isFullRun({ ...failed, files: { ...failed.files, "test/a.test.ts": { project: "unit", ms: 1, state: "failed" } } })).toBe(false);
    expect(renderSection(record({ built: ["bao"] }))).toContain("it built bao (not cached when it started)");
  });

  it("replaces only the generated section of the page, and names the page when it has none", () => {
    const page = `a\n${SECTION_START}\nold\n${SECTION_END}\nb\n`;
    expect(replaceSection(page, "NEW")).toBe("a\nNEW\nb\n");
    expect(() => replaceSection("no markers", "NEW", "docs/testing.md")).toThrow("docs/testing.md has no generated times section");
  });

  it("rewrites docs/test-times.json from a full run that built nothing, and keeps it otherwise", () => {
    const full = scratch(record());
    expect(writeTestTimes(full)).toContain("wrote the times of 3 files");
    expect(JSON.parse(readFileSync(full.timesPath, "utf8")).files["test/e2e/irrevocable.test.ts"]).toBe(730_000);
    expect(readFileSync(full.testingPage, "utf8")).toMatch(
      /^# Tests\n\nbefore\n\n<!-- times:start[^\n]*\n\nThe last run[\s\S]*<!-- times:end -->\n\nafter\n$/,
    );

    const built = scratch(record({ built: ["vault"] }));
    expect(writeTestTimes(built)).toContain("(this run built tools)");
    expect(() => readFileSync(built.timesPath)).toThrow();
  });

  it("finds the markers of its section in docs/testing.md", () => {
    const page = readFileSync(join(ROOT, "docs", "testing.md"), "utf8");
    expect(page).toContain(SECTION_START);
    expect(page).toContain(SECTION_END);
  });
});
