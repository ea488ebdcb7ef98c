/**
 * Records how long each test file took, from the moment a worker took it to its end (imports, the wait for its
 * tools, hooks and tests: what a worker is busy with), and which tools the run had to build, into
 * test-results/times.json. `npm run figures` turns it into docs/test-times.json (what plan.ts estimates
 * from) and the times table of docs/testing.md.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Reporter, TestModule } from "vitest/node";
import { cachedTools } from "../../harness/toolchain";
import type { RecordedTimes } from "./times";
import { allTools, ROOT, WORKERS } from "./plan";

export const TIMES_RESULTS = join(ROOT, "test-results", "times.json");

export default class TimingReporter implements Reporter {
  private readonly started = Date.now();
  private readonly queued = new Map<string, number>();
  private readonly ended = new Map<string, { project: string; ms: number; state: string }>();
  private readonly built = cachedTools(allTools()).missing;

  onTestModuleQueued(module: TestModule): void {
    this.queued.set(module.moduleId, Date.now());
  }

  onTestModuleEnd(module: TestModule): void {
    const file = relative(ROOT, module.moduleId).split("\\").join("/");
    const start = this.queued.get(module.moduleId) ?? this.started;
    this.ended.set(file, { project: module.project.name, ms: Date.now() - start, state: module.state() });
  }

  onTestRunEnd(): void {
    const now = Date.now();
    const record: RecordedTimes = {
      startedAt: new Date(this.started).toISOString(),
      endedAt: new Date(now).toISOString(),
      wallMs: now - this.started,
      workers: WORKERS,
      built: this.built,
      files: Object.fromEntries([...this.ended].sort(([a], [b]) => a.localeCompare(b))),
    };
    mkdirSync(dirname(TIMES_RESULTS), { recursive: true });
    writeFileSync(TIMES_RESULTS, `${JSON.stringify(record, null, 2)}\n`);
  }
}
