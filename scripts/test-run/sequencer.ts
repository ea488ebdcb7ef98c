/**
 * The order in which `npm test` starts its files (vitest.config.ts's `sequence.sequencer`): plan.ts's, the
 * files whose tools are ready first, and among those the longest first. vitest's own order (failed first, then
 * longest, from a cache a fresh clone does not have) would start the irrevocable suite (5 to 16 minutes) last.
 */
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";
import { cachedTools } from "../../harness/toolchain";
import { allTools, planRun, ROOT } from "./plan";

const fileOf = (spec: TestSpecification) => relative(ROOT, spec.moduleId).split("\\").join("/");

export default class PlannedSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const plan = planRun([...new Set(files.map(fileOf))], cachedTools(allTools()).missing);
    const position = new Map(plan.files.map((f, i) => [f.file, i]));
    return [...files].sort((a, b) => (position.get(fileOf(a)) ?? 0) - (position.get(fileOf(b)) ?? 0));
  }
}
