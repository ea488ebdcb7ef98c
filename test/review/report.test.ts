import { describe, expect, it } from "vitest";
import { REPORT_MARKER, renderReport } from "../../review/report";
import type { StackDiff } from "../../review/model";

const changed: StackDiff = {
  stack: "keybuzz-dev",
  source: "synth",
  leaseBudgets: [],
  settings: [],
  resources: [
    {
      address: "vault_database_secrets_mount.Mount_1",
      type: "vault_database_secrets_mount",
      constructPath: "Mount/Resource",
      label: "database",
      kind: "changed",
      attributes: [
        { path: "postgresql.0.password", before: "old-literal", after: "new-literal" },
        { path: "postgresql.0.root_rotation_statements", before: ["ALTER ROLE x;"], after: ["SET x;", "ALTER ROLE x;"] },
      ],
    },
  ],
};
const untouched: StackDiff = { stack: "keybuzz-prod", source: "synth", leaseBudgets: [], settings: [], resources: [] };

describe("report", () => {
  const report = renderReport({
    base: "main",
    head: "working tree",
    stacks: [changed, untouched],
    findings: [{ stack: "keybuzz-dev", resource: changed.resources[0], reason: "root rotation statements changed" }],
  });

  it("starts with the marker CI uses to find its comment", () => {
    expect(report.split("\n")[0]).toBe(REPORT_MARKER);
  });

  it("puts what needs a careful look first, as a table", () => {
    const look = report.indexOf("## Needs a careful look (1)");

    expect(look).toBeGreaterThan(0);
    expect(look).toBeLessThan(report.indexOf("## keybuzz-dev"));
    expect(report).toContain("| keybuzz-dev | `vault_database_secrets_mount` database | root rotation statements changed |");
  });

  it("shows a statement list as a diff and redacts a literal secret", () => {
    expect(report).toContain("  + SET x;\n    ALTER ROLE x;");
    expect(report).toContain('- `postgresql.0.password`: `"(redacted)"` → `"(redacted)"`');
    expect(report).not.toContain("literal");
  });

  it("lists unchanged environments in one line", () => {
    expect(report.trimEnd().split("\n").pop()).toBe("Unchanged: keybuzz-prod.");
  });

  it("says so when nothing needs a careful look", () => {
    const calm = renderReport({ base: "a", head: "b", stacks: [untouched], findings: [] });

    expect(calm).toContain("Nothing here touches privileges, TTLs, TLS, statements or existing resources.");
    expect(calm).toContain("No environment changes.");
  });
});
