/** figures/vitest-run.ts: the run `npm run figures` summarizes, from vitest's JSON report. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { projectOf, readRun } from "../../figures/vitest-run";
import { at, file, project, removeProjects, START, vitestJson } from "./fixture";

afterAll(removeProjects);

describe("projectOf", () => {
  it("assigns files to vitest.config.ts's projects", () => {
    expect(projectOf("test/e2e/churn.test.ts")).toBe("e2e");
    expect(projectOf("test/github/workflows.integration.test.ts")).toBe("integration");
    expect(projectOf("test/scripts/figures.test.ts")).toBe("unit");
  });
});

describe("readRun", () => {
  it("reads each file relative to the root, its project, status and counts, sorted by project then name", () => {
    const { root, results } = project();
    vitestJson(results, [
      file(root, "test/e2e/ha.test.ts", at(6), at(9), ["passed", "skipped"]),
      file(root, "test/main.test.ts", at(0.1), at(0.2), ["passed", "passed"]),
      file(root, "test/e2e/churn.test.ts", at(1), at(3), ["skipped"]),
      file(root, "test/e2e/deploy.test.ts", at(9), at(11), ["passed", "failed"]),
    ]);
    const run = readRun(results, root);
    expect(run.files.map((f) => `${f.project} ${f.file} ${f.status} ${f.passed}/${f.failed}/${f.skipped} ${f.ms}`)).toEqual([
      "e2e test/e2e/churn.test.ts skipped 0/0/1 120000",
      "e2e test/e2e/deploy.test.ts failed 1/1/0 120000",
      "e2e test/e2e/ha.test.ts passed 1/0/1 180000",
      "unit test/main.test.ts passed 2/0/0 6000",
    ]);
    expect(run).toMatchObject({ startTime: START, endTime: at(11), tests: 7, passed: 4, failed: 1, skipped: 2 });
  });

  it("fails with what to do when there is no vitest.json", () => {
    const { results } = project();
    expect(() => readRun(results)).toThrow(`${join(results, "vitest.json")} is missing: run the tests first (\`npm test\``);
  });

  it("fails naming the file when it is not vitest's report, or not JSON", () => {
    const { results } = project();
    writeFileSync(join(results, "vitest.json"), JSON.stringify({ files: [] }));
    expect(() => readRun(results)).toThrow(`${join(results, "vitest.json")} is not vitest's JSON report (no testResults or startTime)`);
    writeFileSync(join(results, "vitest.json"), "{");
    expect(() => readRun(results)).toThrow(`cannot read vitest's JSON report ${join(results, "vitest.json")}`);
  });
});
