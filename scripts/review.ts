/**
 * `npm run review -- --base <git ref or folder> [--head <folder>] [--out FILE] [--fail-on risky] [--plan STACK=FILE]...`
 *
 * Synthesizes the working tree and the base, compares them stack by stack, and writes one Markdown
 * report (stdout, or FILE). Exit status: 0 report written; 2 report written and `--fail-on risky` found
 * changes that need a careful look; 1 error.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compareOutputs, loadStacks } from "../review/compare";
import { readPlan } from "../review/plan";
import { renderReport } from "../review/report";
import { findRisks } from "../review/risk";
import { PROJECT_ROOT, synthesize, synthesizeBase } from "../review/synth";

const USAGE = "usage: npm run review -- --base <git ref or folder> [--head <folder>] [--out FILE] [--fail-on risky] [--plan STACK=FILE]...";

function main(): number {
  const { values } = parseArgs({
    options: {
      base: { type: "string" },
      head: { type: "string" },
      out: { type: "string" },
      "fail-on": { type: "string" },
      plan: { type: "string", multiple: true },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.base) throw new Error(`--base is required\n${USAGE}`);
  if (values["fail-on"] !== undefined && values["fail-on"] !== "risky") {
    throw new Error(`--fail-on accepts only "risky", got "${values["fail-on"]}"`);
  }
  const plans = (values.plan ?? []).map((p) => {
    const eq = p.indexOf("=");
    if (eq < 1) throw new Error(`--plan takes STACK=FILE (e.g. keybuzz-prod=plan.json), got "${p}"`);
    return readPlan(p.slice(0, eq), p.slice(eq + 1));
  });

  const base = synthesizeBase(values.base);
  const headTmp = values.head ? undefined : mkdtempSync(join(tmpdir(), "keybuzz-review-head-"));
  try {
    const headDir = values.head ?? join(headTmp!, "cdktf.out");
    if (!values.head) synthesize(PROJECT_ROOT, headDir, "the working tree");
    const stacks = compareOutputs(loadStacks(base.outDir), loadStacks(headDir)).map((s) => plans.find((p) => p.stack === s.stack) ?? s);
    for (const p of plans) if (!stacks.some((s) => s.stack === p.stack)) stacks.push(p);
    const findings = findRisks(stacks);
    const report = renderReport({ base: base.label, head: values.head ?? "working tree", stacks, findings });
    if (values.out) {
      writeFileSync(values.out, report);
      process.stderr.write(`[review] wrote ${values.out}: ${findings.length} change(s) need a careful look\n`);
    } else {
      process.stdout.write(report);
    }
    return values["fail-on"] === "risky" && findings.length > 0 ? 2 : 0;
  } finally {
    base.cleanup();
    if (headTmp) rmSync(headTmp, { recursive: true, force: true });
  }
}

try {
  process.exitCode = main();
} catch (err) {
  process.stderr.write(`[review] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
