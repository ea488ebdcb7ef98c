import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPORT_MARKER } from "../../review/report";
import { TERRAFORM_DATA_PLAN, removeAll, review, synthesizeVariant } from "./fixtures";

const base = synthesizeVariant();
const calm = synthesizeVariant((c) => (c.dev.applications[0].maxTtl = "12h"));
const risky = synthesizeVariant((c) => (c.prod.applications[1].defaultTtl = "2h"));
afterAll(() => removeAll([base, calm, risky]));

describe("npm run review", () => {
  it("writes the report to stdout and exits 0", () => {
    const r = review("--base", base, "--head", risky);

    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(`${REPORT_MARKER}\n# Plan review: \`${base}\``)).toBe(true);
    expect(r.stdout).toContain("TTL raised: default_ttl 3600 → 7200");
  });

  it("exits 2 with --fail-on risky when something needs a careful look", () => {
    expect(review("--base", base, "--head", risky, "--fail-on", "risky").code).toBe(2);
  });

  it("exits 0 with --fail-on risky when nothing does", () => {
    const r = review("--base", base, "--head", calm, "--fail-on", "risky");

    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Nothing here touches privileges, TTLs, TLS, statements or existing resources.");
  });

  it("writes to --out and says how many changes need a look", () => {
    const out = join(calm, "review.md");
    const r = review("--base", base, "--head", risky, "--out", out);

    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`wrote ${out}: 1 change(s) need a careful look`);
    expect(readFileSync(out, "utf8")).toContain("## keybuzz-prod: 0 to add, 1 to change");
  });

  it("builds a stack's section from a plan given with --plan", () => {
    const r = review("--base", base, "--head", base, "--plan", `keybuzz-local=${TERRAFORM_DATA_PLAN}`);

    expect(r.code).toBe(0);
    expect(r.stdout).toContain("## keybuzz-local: 1 to add, 3 to change, 1 to replace, 1 to destroy\n_from the plan_");
    expect(r.stdout).not.toContain("s3cr3t-canary");
  });

  it.each([
    [[], "--base is required"],
    [["--base", "HEAD", "--fail-on", "anything"], '--fail-on accepts only "risky", got "anything"'],
    [["--base", "HEAD", "--plan", "plan.json"], '--plan takes STACK=FILE (e.g. keybuzz-prod=plan.json), got "plan.json"'],
    [["--base", "HEAD", "--colour"], "Unknown option '--colour'"],
  ])("exits 1 with a clear message for %j", (args, message) => {
    const r = review(...args);

    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
  });
});
