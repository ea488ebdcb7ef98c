/**
 * Renders the review as one Markdown document for a pull request: the changes that need a careful look
 * first, then each environment's resources added, changed, replaced and destroyed with their attributes
 * before and after; unchanged environments in one line. Every value goes through redaction.
 */
import type { AttributeChange, Finding, LeaseBudget, ResourceChange, StackDiff } from "./model";
import { redactAt } from "./redact";

/** First line of every report: lets CI find and update its own pull-request comment. */
export const REPORT_MARKER = "<!-- keybuzz-plan-review -->";

function code(value: string): string {
  const fence = value.includes("`") ? "``" : "`";
  return `${fence}${value.replace(/\n/g, " ")}${fence}`;
}

function show(path: string, value: unknown): string {
  return value === undefined ? "_unset_" : code(JSON.stringify(redactAt(path, value)));
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/** Lines of `b` and `a` in order, each kept (` `), removed (`-`) or added (`+`): a longest-common-subsequence diff. */
function lineDiff(b: readonly string[], a: readonly string[]): string[] {
  const lcs = Array.from({ length: b.length + 1 }, () => new Array<number>(a.length + 1).fill(0));
  for (let i = b.length - 1; i >= 0; i--) {
    for (let j = a.length - 1; j >= 0; j--) {
      lcs[i][j] = b[i] === a[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: string[] = [];
  let [i, j] = [0, 0];
  while (i < b.length || j < a.length) {
    if (i < b.length && j < a.length && b[i] === a[j]) {
      out.push(`  ${b[i++]}`);
      j++;
    } else if (j < a.length && (i === b.length || lcs[i][j + 1] > lcs[i + 1][j])) {
      out.push(`+ ${a[j++]}`);
    } else {
      out.push(`- ${b[i++]}`);
    }
  }
  return out;
}

/** A list attribute (statements, allowed_roles) as a diff block, line by line. */
function listDiff(path: string, before: unknown, after: unknown): string {
  const b = isStringList(before) ? (redactAt(path, before) as string[]) : [];
  const a = isStringList(after) ? (redactAt(path, after) as string[]) : [];
  const lines = lineDiff(b, a);
  return [`- \`${path}\`:`, "  ```diff", ...lines.map((l) => `  ${l}`), "  ```"].join("\n");
}

/** Lines of `lines` within `context` of a change (`+`/`-`); each run of others becomes one `…`. */
function aroundChanges(lines: readonly string[], context = 2): string[] {
  const changed = lines.map((l) => l[0] !== " ");
  const near = (i: number) => changed.slice(Math.max(0, i - context), i + context + 1).some(Boolean);
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (near(i)) out.push(line);
    else if (out[out.length - 1] !== "  …") out.push("  …");
  });
  return out;
}

/** A multi-line text (a function body) as a diff block of the lines that changed, with some context. */
function textDiff(path: string, before: string, after: string): string {
  const lines = aroundChanges(lineDiff(before.split("\n"), after.split("\n")));
  return [`- \`${path}\`:`, "  ```diff", ...lines.map((l) => `  ${l}`), "  ```"].join("\n");
}

function attributeLine(a: AttributeChange): string {
  // multi-line text (a function body, an agent's file) as a line diff, also when it is new or gone.
  const text = (v: unknown) => typeof v === "string" || v === undefined;
  if (text(a.before) && text(a.after) && [a.before, a.after].some((v) => typeof v === "string" && v.includes("\n"))) {
    return textDiff(a.path, (a.before as string | undefined) ?? "", (a.after as string | undefined) ?? "");
  }
  if (
    (isStringList(a.before) || a.before === undefined) &&
    (isStringList(a.after) || a.after === undefined) &&
    (a.before ?? a.after) !== undefined &&
    Array.isArray(a.before ?? a.after)
  ) {
    return listDiff(a.path, a.before, a.after);
  }
  if (a.before === undefined) return `- \`${a.path}\`: ${show(a.path, a.after)}`;
  if (a.after === undefined) return `- \`${a.path}\`: ${show(a.path, a.before)} → _unset_`;
  return `- \`${a.path}\`: ${show(a.path, a.before)} → ${show(a.path, a.after)}`;
}

function valueLine(a: AttributeChange, side: "before" | "after"): string {
  const v = side === "before" ? a.before : a.after;
  if (isStringList(v) && v.length > 1) return side === "after" ? listDiff(a.path, [], v) : listDiff(a.path, v, []);
  return `- \`${a.path}\`: ${show(a.path, v)}`;
}

function title(r: ResourceChange): string {
  const where = r.constructPath ? ` (${r.constructPath})` : "";
  return `\`${r.type}\` ${r.label ? `**${r.label}**` : ""}${where}`.replace("  ", " ");
}

function resourceSection(r: ResourceChange): string {
  const lines = [`#### ${title(r)}`, `\`${r.address}\``];
  if (r.movedFrom) lines.push(`moved from \`${r.movedFrom}\` (state moves, nothing is destroyed)`);
  if (r.renamedFrom) lines.push(`was \`${r.renamedFrom.address}\`${r.renamedFrom.constructPath ? ` (${r.renamedFrom.constructPath})` : ""}`);
  if (r.replaceReason) lines.push(`replaced: ${r.replaceReason}`);
  lines.push("");
  if (r.kind === "added") lines.push(...r.attributes.map((a) => valueLine(a, "after")));
  else if (r.kind === "removed") lines.push(...r.attributes.map((a) => valueLine(a, "before")));
  else lines.push(...r.attributes.map(attributeLine));
  return lines.join("\n");
}

function counts(s: StackDiff): string {
  const n = (k: ResourceChange["kind"]) => s.resources.filter((r) => r.kind === k).length;
  return `${n("added")} to add, ${n("changed")} to change, ${n("replaced")} to replace, ${n("removed")} to destroy`;
}

const GROUPS: readonly [ResourceChange["kind"], string][] = [
  ["replaced", "Replaced (destroyed, then created)"],
  ["removed", "Destroyed"],
  ["changed", "Changed"],
  ["added", "Added"],
];

function stackSection(s: StackDiff): string {
  const from = s.source === "plan" ? "from the plan" : "from the synthesized JSON";
  const status = s.status === "new" ? " (new environment)" : s.status === "deleted" ? " (environment removed)" : "";
  const out = [`## ${s.stack}${status}: ${counts(s)}`, `_${from}_`, ""];
  if (s.leaseBudgets.length) {
    const budget = (b: LeaseBudget) => (b.before === b.after ? `${b.after}` : `${b.before ?? "none"} → ${b.after ?? "none"}`);
    out.push(`Lease budgets: ${s.leaseBudgets.map((b) => `${b.application} ${budget(b)}`).join(", ")}`, "");
  }
  if (s.settings.length) {
    out.push("### Stack settings", ...s.settings.map(attributeLine), "");
  }
  for (const [kind, heading] of GROUPS) {
    const rs = s.resources.filter((r) => r.kind === kind);
    if (rs.length) out.push(`### ${heading}`, "", rs.map(resourceSection).join("\n\n"), "");
  }
  return out.join("\n");
}

function findingRow(f: Finding): string {
  const what = f.resource ? `\`${f.resource.type}\` ${f.resource.label}` : "stack";
  return `| ${f.stack} | ${what.replace(/\|/g, "\\|")} | ${f.reason.replace(/\|/g, "\\|").replace(/\n/g, " ")} |`;
}

/** The whole report. */
export function renderReport(opts: {
  readonly base: string;
  readonly head: string;
  readonly stacks: readonly StackDiff[];
  readonly findings: readonly Finding[];
}): string {
  const changed = opts.stacks.filter((s) => s.resources.length || s.settings.length || s.status);
  const unchanged = opts.stacks.filter((s) => !changed.includes(s)).map((s) => s.stack);
  const out = [REPORT_MARKER, `# Plan review: ${code(opts.base)} → ${code(opts.head)}`, ""];
  if (opts.findings.length) {
    out.push(
      `## Needs a careful look (${opts.findings.length})`,
      "",
      "| environment | resource | why |",
      "| --- | --- | --- |",
      ...opts.findings.map(findingRow),
      "",
    );
  } else {
    out.push("Nothing here touches privileges, TTLs, TLS, statements or existing resources.", "");
  }
  if (!changed.length) out.push("No environment changes.");
  for (const s of changed) out.push(stackSection(s));
  if (unchanged.length) out.push(`Unchanged: ${unchanged.join(", ")}.`);
  return `${out
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim()}\n`;
}
