import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readPlan, stackDiffFromPlan } from "../../review/plan";
import { findRisks } from "../../review/risk";
import { renderReport } from "../../review/report";
import { TERRAFORM_DATA_PLAN } from "./fixtures";

describe("plan", () => {
  const diff = readPlan("keybuzz-local", TERRAFORM_DATA_PLAN);
  const byAddress = (a: string) => diff.resources.find((r) => r.address === a);

  it("reads each action of a real plan as added, changed, replaced or removed, and skips no-ops", () => {
    expect(diff.resources.map((r) => [r.address, r.kind])).toEqual([
      ["terraform_data.added", "added"],
      ["terraform_data.gone", "removed"],
      ["terraform_data.new_name", "changed"],
      ["terraform_data.replace", "replaced"],
      ["terraform_data.secretive", "changed"],
      ["terraform_data.update", "changed"],
    ]);
    expect(diff.source).toBe("plan");
  });

  it("knows from replace_paths which attribute forces the replacement", () => {
    expect(byAddress("terraform_data.replace")).toMatchObject({
      replaceReason: "changing triggers_replace forces a new terraform_data",
      attributes: expect.arrayContaining([{ path: "triggers_replace", before: ["verify-full"], after: ["disable"] }]),
    });
  });

  it("reports a moved resource as moved, not destroyed", () => {
    expect(byAddress("terraform_data.new_name")).toMatchObject({ movedFrom: "terraform_data.old_name", attributes: [] });
  });

  it("shows values known only after apply as such", () => {
    expect(byAddress("terraform_data.added")?.attributes).toContainEqual({ path: "id", after: "(known after apply)" });
  });

  it("redacts what the plan marks sensitive, before and after", () => {
    // GIVEN a plan whose file holds a sensitive variable's value in clear
    expect(readFileSync(TERRAFORM_DATA_PLAN, "utf8")).toContain("s3cr3t-canary");

    // THEN neither the model nor the report carries it
    const report = renderReport({ base: "a", head: "b", stacks: [diff], findings: findRisks([diff]) });
    expect(JSON.stringify(diff)).not.toContain("s3cr3t-canary");
    expect(report).not.toContain("s3cr3t-canary");
    expect(byAddress("terraform_data.secretive")?.attributes).toContainEqual({
      path: "input",
      before: "(redacted)",
      after: "(redacted)",
    });
  });

  it("flags the destroy and the replacement", () => {
    const reasons = findRisks([diff]).map((f) => `${f.resource?.address}: ${f.reason}`);

    expect(reasons).toEqual([
      "terraform_data.gone: would be destroyed",
      "terraform_data.replace: would be destroyed and recreated: changing triggers_replace forces a new terraform_data",
    ]);
  });

  it("reads each application's lease budget from the applications output's change, and flags a raise", () => {
    const apps = (n8n: number) => ({ chatwoot: { vault_role: "chatwoot-db", lease_budget: 4 }, n8n: { vault_role: "n8n-db", lease_budget: n8n } });
    const plan = stackDiffFromPlan("keybuzz-prod", {
      resource_changes: [],
      output_changes: { applications: { actions: ["update"], before: apps(4), after: apps(8) } },
    });

    expect(plan.leaseBudgets).toEqual([
      { application: "chatwoot", before: 4, after: 4 },
      { application: "n8n", before: 4, after: 8 },
    ]);
    expect(findRisks([plan]).map((f) => f.reason)).toEqual([
      "lease budget of n8n raised: 4 → 8 (more credentials at once before the lease audit reports a crash loop)",
    ]);
    expect(diff.leaseBudgets).toEqual([]);
  });

  it("fails with a clear message on a file that is not a plan", () => {
    expect(() => readPlan("keybuzz-dev", __filename)).toThrow(
      /--plan keybuzz-dev=.*plan\.test\.ts: not a readable plan in JSON .*tofu show -json <planfile>/,
    );
    expect(() => stackDiffFromPlan("s", { resource_changes: [] })).not.toThrow();
  });
});
