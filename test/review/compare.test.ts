import { afterAll, describe, expect, it } from "vitest";
import { compareOutputs, compareStack, loadStacks } from "../../review/compare";
import { findRisks } from "../../review/risk";
import { renderReport } from "../../review/report";
import type { StackDiff } from "../../review/model";
import { removeAll, synthesizeVariant, type RawConfig } from "./fixtures";

const dirs: string[] = [];
afterAll(() => removeAll(dirs));

const BASE = synthesizeVariant();
dirs.push(BASE);

/** Compares the base with a variant; returns the stacks, the findings and the report. */
function review(edit: (configs: Record<string, RawConfig>) => void) {
  const after = synthesizeVariant(edit);
  dirs.push(after);
  const stacks = compareOutputs(loadStacks(BASE), loadStacks(after));
  const findings = findRisks(stacks);
  const report = renderReport({ base: "main", head: "working tree", stacks, findings });
  const dev = stacks.find((s) => s.stack === "keybuzz-dev")!;
  return { stacks, findings, report, dev };
}

function resource(stack: StackDiff, type: string, label: string) {
  return stack.resources.find((r) => r.type === type && r.label === label);
}

describe("compare", () => {
  it("finds nothing between two synths of the same config", () => {
    const { stacks, findings, report } = review(() => undefined);

    expect(stacks.every((s) => s.resources.length === 0 && s.settings.length === 0)).toBe(true);
    expect(findings).toEqual([]);
    expect(report).toContain("Unchanged: keybuzz-dev, keybuzz-local, keybuzz-prod, keybuzz-staging.");
  });

  describe("an application added", () => {
    const { dev, findings, report, stacks } = review((c) =>
      c.dev.applications.push({ name: "billing", baseRole: "billing", vaultRole: "billing-db" }),
    );

    it("adds its base role, schema, grants, admin grant, Vault role and policy", () => {
      const added = dev.resources.filter((r) => r.kind === "added").map((r) => `${r.type} ${r.label}`);

      expect(added.sort()).toEqual(
        [
          "postgresql_grant billing on database",
          "postgresql_grant_role billing to vault_admin",
          "postgresql_role billing",
          "postgresql_schema billing",
          "vault_database_secret_backend_role billing-db",
          "vault_policy billing-db",
        ].sort(),
      );
    });

    it("changes allowed_roles of the connection, and flags it", () => {
      expect(resource(dev, "vault_database_secret_backend_connection", "keybuzz-postgres")).toMatchObject({
        kind: "changed",
        attributes: [
          {
            path: "allowed_roles",
            before: ["keybuzz-api-db", "chatwoot-db", "n8n-db", "workers-db"],
            after: ["keybuzz-api-db", "chatwoot-db", "n8n-db", "workers-db", "billing-db"],
          },
        ],
      });
      expect(findings.map((f) => f.reason)).toContainEqual(expect.stringContaining('allowed_roles: ["keybuzz-api-db"'));
    });

    it("flags the new grants and the new Vault role", () => {
      const reasons = findings.map((f) => f.reason);

      expect(reasons).toContain("privileges added: billing on database");
      expect(reasons).toContain("role membership added: billing to vault_admin");
      expect(reasons).toContain('new Vault role "billing-db" issues credentials');
    });

    it("reports only dev, with the other environments in one line", () => {
      expect(stacks.filter((s) => s.resources.length).map((s) => s.stack)).toEqual(["keybuzz-dev"]);
      expect(report).toContain("## keybuzz-dev: 6 to add, 1 to change, 0 to replace, 0 to destroy");
      expect(report).toContain("Unchanged: keybuzz-local, keybuzz-prod, keybuzz-staging.");
      expect(report).toContain("+ GRANT billing TO \"{{name}}\";");
    });
  });

  describe("max_ttl raised", () => {
    const { dev, findings, report } = review((c) => {
      c.dev.vault.maxLeaseTtl = "48h";
      c.dev.applications[1].maxTtl = "48h";
    });

    it("changes the role's max_ttl and the mount's max lease in place", () => {
      expect(resource(dev, "vault_database_secret_backend_role", "chatwoot-db")).toMatchObject({
        kind: "changed",
        attributes: [{ path: "max_ttl", before: 86400, after: 172800 }],
      });
      expect(resource(dev, "vault_mount", "database")?.attributes).toEqual([
        { path: "max_lease_ttl_seconds", before: 86400, after: 172800 },
      ]);
    });

    it("flags both as TTL increases", () => {
      expect(findings.map((f) => f.reason)).toEqual([
        "TTL raised: max_ttl 86400 → 172800",
        "TTL raised: max_lease_ttl_seconds 86400 → 172800",
      ]);
      expect(report).toContain("- `max_ttl`: `86400` → `172800`");
    });

    it("does not flag a TTL lowered", () => {
      const lowered = review((c) => (c.dev.applications[1].maxTtl = "12h"));

      expect(lowered.findings).toEqual([]);
    });
  });

  describe("sslmode weakened", () => {
    const { findings, dev } = review((c) => (c.dev.postgres.sslmode = "disable"));

    it("flags Vault's connection URL and Terraform's provider", () => {
      expect(findings.map((f) => f.reason)).toEqual([
        "Terraform's postgresql provider: sslmode weakened: verify-full → disable",
        "Vault's sslmode weakened: verify-full → disable",
      ]);
      expect(dev.settings).toEqual([{ path: "provider.postgresql.sslmode", before: "verify-full", after: "disable" }]);
    });
  });

  describe("a base role's privileges widened", () => {
    const { dev, findings } = review((c) => (c.dev.applications[3].schemas.keybuzz_api.tables = ["SELECT", "INSERT", "DELETE"]));

    it("shows the grant as replaced, since the provider recreates grants", () => {
      expect(resource(dev, "postgresql_grant", "keybuzz_workers on table keybuzz_api")).toMatchObject({
        kind: "replaced",
        replaceReason: "changing privileges forces a new postgresql_grant",
        attributes: [{ path: "privileges", before: ["SELECT"], after: ["SELECT", "INSERT", "DELETE"] }],
      });
    });

    it("flags the widening, naming the privileges gained", () => {
      expect(findings).toHaveLength(1);
      expect(findings[0].reason).toContain("privileges widened: +INSERT, +DELETE");
    });
  });

  describe("a construct ID renamed", () => {
    // renaming the application (not its Vault role) changes the construct ID of its dynamic role.
    const { dev, findings, report } = review((c) => (c.dev.applications[2].name = "n8n-automation"));

    it("pairs the destroyed and created Vault role as one rename, not a removal and an addition", () => {
      const role = resource(dev, "vault_database_secret_backend_role", "n8n-db");

      expect(role).toMatchObject({
        kind: "replaced",
        constructPath: "DynamicRoles/n8n-automation/Resource",
        renamedFrom: { constructPath: "DynamicRoles/n8n/Resource" },
      });
      // the policy is no twin: its text names the application, so it really changes with the rename.
      expect(dev.resources.filter((r) => r.kind === "removed" || r.kind === "added")).toEqual([]);
    });

    it("says which rename caused it and how to avoid it with cdktf's move support", () => {
      const reason = findings.find((f) => f.resource?.label === "n8n-db")!.reason;

      expect(reason).toContain("its construct ID changed (DynamicRoles/n8n/Resource → DynamicRoles/n8n-automation/Resource)");
      expect(reason).toMatch(/moveFromId\("vault_database_secret_backend_role\.DynamicRoles_n8n_[0-9A-F]+"\)/);
      expect(report).toContain("was `vault_database_secret_backend_role.DynamicRoles_n8n_");
    });
  });

  describe("an environment untouched", () => {
    it("leaves prod in the one-line list while dev changes", () => {
      const { report, stacks } = review((c) => (c.dev.applications[0].defaultTtl = "30m"));

      expect(stacks.find((s) => s.stack === "keybuzz-prod")).toMatchObject({ resources: [], settings: [] });
      expect(report).not.toContain("## keybuzz-prod");
      expect(report).toContain("Unchanged: keybuzz-local, keybuzz-prod, keybuzz-staging.");
    });
  });

  it("counts a stack that only exists after as new, and one that only exists before as deleted", () => {
    expect(compareStack("keybuzz-x", undefined, { resource: {} }).status).toBe("new");
    const gone = compareStack("keybuzz-y", { resource: { vault_mount: { M: { path: "database" } } } }, undefined);

    expect(gone.status).toBe("deleted");
    expect(findRisks([gone]).map((f) => f.reason)).toEqual([
      "the whole environment's stack is gone: everything in it would be destroyed",
      "would be destroyed",
    ]);
  });

  it("follows a moved block instead of reporting a destroy", () => {
    const before = { resource: { vault_mount: { Old: { path: "database", type: "database" } } } };
    const after = {
      resource: { vault_mount: { New: { path: "database", type: "database" } } },
      moved: [{ from: "vault_mount.Old", to: "vault_mount.New" }],
    };

    expect(compareStack("s", before, after).resources).toEqual([
      expect.objectContaining({ address: "vault_mount.New", kind: "changed", movedFrom: "vault_mount.Old", attributes: [] }),
    ]);
  });
});
