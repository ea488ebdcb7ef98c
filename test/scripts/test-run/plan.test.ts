/**
 * scripts/test-run/plan.ts and sequencer.ts: the order `npm test` starts its files in, the estimate on its first line,
 * and scripts/test-run/stages.ts, which they read: every real-server suite is listed with the tool stages it
 * waits for.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TestTimes } from "../../../scripts/test-run/times";
import { REDUCING_VARIABLES, reductions, STAGES, SUITES, stagesOf } from "../../../scripts/test-run/stages";
import { allTools, COLD_BUILD_S, planLine, planRun, simulate, testFiles, WORKERS } from "../../../scripts/test-run/plan";
import { ROOT } from "../../helpers";

const times = (files: Record<string, number>): TestTimes => ({ "//": "", measuredAt: "2026-12-06T04:00:00Z", wallMs: 0, workers: WORKERS, files });
const MIN = 60_000;

describe("scripts/test-run/stages.ts", () => {
  const suites = readdirSync(join(ROOT, "test", "e2e")).filter((f) => f.endsWith(".test.ts"));

  it("lists every real-server suite, and only those", () => {
    expect(Object.keys(SUITES).sort()).toEqual(suites.sort());
  });

  it("has each suite wait for its tools through e2eToolchain, with nothing to guess from", () => {
    for (const suite of suites) {
      expect(readFileSync(join(ROOT, "test", "e2e", suite), "utf8"), suite).toContain("await e2eToolchain(import.meta.url)");
    }
  });

  it("gives every stage a cold-build time for each of its tools", () => {
    for (const tool of allTools()) expect(COLD_BUILD_S[tool], tool).toBeGreaterThan(0);
  });

  it("puts the first stage under every suite, and refuses a suite it does not know", () => {
    expect(stagesOf("attacks.test.ts")).toEqual([STAGES[0].name]);
    expect(stagesOf("kubernetes.test.ts")).toEqual(["bao", "vault", "kubernetes"]);
    expect(() => stagesOf("new.test.ts")).toThrow("test/e2e/new.test.ts is not in SUITES (scripts/test-run/stages.ts)");
  });
});

describe("the variables a CI run refuses", () => {
  it("names each one set, with its value and what it leaves out", () => {
    expect(reductions({ CI: "true", PATH: "/bin" })).toEqual([]);
    expect(reductions({ KEYBUZZ_E2E_PG17: "0", KEYBUZZ_CHURN_CYCLES: "500" })).toEqual([
      "KEYBUZZ_E2E_PG17=0 (leaves PostgreSQL 17 out when 0)",
      "KEYBUZZ_CHURN_CYCLES=500 (changes the churn suite's number of cycles)",
    ]);
  });

  it("lists every KEYBUZZ_ variable the real-server suites and their harness read, but those that only change logging", () => {
    const logging = ["KEYBUZZ_PATRONI_LOG", "KEYBUZZ_PATRONI_TAIL"];
    const read = new Set<string>();
    const scan = (dir: string) => {
      for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
        if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
        for (const m of readFileSync(join(entry.parentPath, entry.name), "utf8").matchAll(/process\.env\.(KEYBUZZ_[A-Z0-9_]+)/g)) read.add(m[1]);
      }
    };
    for (const dir of ["test/e2e", "sandbox"]) scan(dir);
    const unlisted = [...read].filter((name) => !(name in REDUCING_VARIABLES) && !logging.includes(name));
    expect(unlisted).toEqual([]);
  });
});

describe("the plan of a run", () => {
  const files = ["test/a.test.ts", "test/b.test.ts", "test/e2e/irrevocable.test.ts", "test/e2e/attacks.test.ts", "test/e2e/kubernetes.test.ts"];
  const measured = times({
    "test/a.test.ts": 2_000,
    "test/b.test.ts": 5_000,
    "test/e2e/irrevocable.test.ts": 12 * MIN,
    "test/e2e/attacks.test.ts": 0.5 * MIN,
    "test/e2e/kubernetes.test.ts": 2 * MIN,
  });

  it("starts the longest first when every tool is cached", () => {
    const plan = planRun(files, [], measured);
    expect(plan.files.map((f) => f.file)).toEqual([
      "test/e2e/irrevocable.test.ts",
      "test/e2e/kubernetes.test.ts",
      "test/e2e/attacks.test.ts",
      "test/b.test.ts",
      "test/a.test.ts",
    ]);
    expect(plan.building).toEqual([]);
    expect(plan.files.every((f) => f.readyAtMs === 0)).toBe(true);
  });

  it("on a bare machine, starts what needs no tool first, then the suites by the stage they wait for", () => {
    const plan = planRun(files, allTools(), measured);
    expect(plan.files.map((f) => f.file)).toEqual([
      "test/b.test.ts",
      "test/a.test.ts",
      "test/e2e/attacks.test.ts",
      "test/e2e/irrevocable.test.ts",
      "test/e2e/kubernetes.test.ts",
    ]);
    // a stage is ready once it and every stage before it are built.
    const readyAfter = (name: string) =>
      STAGES.slice(0, STAGES.findIndex((s) => s.name === name) + 1)
        .flatMap((s) => s.tools)
        .reduce((sum, t) => sum + COLD_BUILD_S[t] * 1000, 0);
    const ready = Object.fromEntries(plan.files.map((f) => [f.file, f.readyAtMs]));
    expect(ready["test/e2e/attacks.test.ts"]).toBe(readyAfter("bao"));
    expect(ready["test/e2e/irrevocable.test.ts"]).toBe(readyAfter("vault"));
    expect(ready["test/e2e/kubernetes.test.ts"]).toBe(readyAfter("kubernetes"));
    expect(plan.building).toEqual(allTools().filter((t, i, all) => all.indexOf(t) === i));
    expect(plan.estimateMs).toBeGreaterThan(planRun(files, [], measured).estimateMs);
  });

  it("adds an integration file's own tool build to its time", () => {
    const file = "test/github/workflows.integration.test.ts";
    const cached = planRun([file], [], times({ [file]: 1_000 }));
    const bare = planRun([file], ["actionlint"], times({ [file]: 1_000 }));
    expect(bare.files[0].ms - cached.files[0].ms).toBe(COLD_BUILD_S.actionlint * 1000);
  });

  it("simulates the workers: a file waits for a free worker, then for its tools", () => {
    const f = (ms: number, readyAtMs = 0) => ({ file: "x", ms, readyAtMs });
    expect(simulate([f(10), f(5), f(5)], 2)).toBe(10);
    expect(simulate([f(10), f(5), f(5), f(5)], 2)).toBe(15);
    expect(simulate([f(1, 100)], 4)).toBe(101);
  });

  it("says on the first line how long, what it builds and where its times come from", () => {
    const bare = planLine(planRun(files, ["bao", "vault"], measured), measured);
    expect(bare).toMatch(/^\[npm test\] about \d+ min: building bao, vault \(not in the tool cache: about \d+ min of builds/);
    expect(bare).toContain("the longest, test/e2e/irrevocable.test.ts, about 12 min");
    expect(bare).toContain("from per-file times of 2026-12-06");
    expect(planLine(planRun(files, [], undefined), undefined)).toContain("every tool cached, nothing to build");
  });

  it("finds every test file of the repository", () => {
    const found = testFiles();
    expect(found).toContain("test/scripts/test-run/plan.test.ts");
    expect(found).toContain("test/e2e/irrevocable.test.ts");
    expect(found.every((f) => f.startsWith("test/") && f.endsWith(".test.ts"))).toBe(true);
  });
});
