import { afterAll, describe, expect, it } from "vitest";
import { attributeChanges, compareOutputs, compareStack, loadStacks } from "../../review/compare";
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

    it("adds its base role, schema, grants, Vault role and policy, and a row to the credential functions", () => {
      const added = dev.resources.filter((r) => r.kind === "added").map((r) => `${r.type} ${r.label}`);

      expect(added.sort()).toEqual(
        [
          "postgresql_grant billing on database",
          "postgresql_default_privileges public on function",
          "postgresql_role billing",
          "postgresql_schema billing",
          "vault_database_secret_backend_role billing-db",
          "vault_policy billing-db",
        ].sort(),
      );
    });

    it("changes allowed_roles of the connection in the mount, and flags it", () => {
      expect(resource(dev, "vault_database_secrets_mount", "database")).toMatchObject({
        kind: "changed",
        attributes: [
          {
            path: "postgresql.0.allowed_roles",
            // the lease audit's three roles come after the applications'.
            before: ["keybuzz-api-db", "chatwoot-db", "n8n-db", "workers-db", "leases-probe", "leases-audit", "leases-fix"],
            after: ["keybuzz-api-db", "chatwoot-db", "n8n-db", "workers-db", "billing-db", "leases-probe", "leases-audit", "leases-fix"],
          },
        ],
      });
      expect(findings.map((f) => f.reason)).toContainEqual(expect.stringContaining('allowed_roles: ["keybuzz-api-db"'));
    });

    it("flags the new grants and the new Vault role", () => {
      const reasons = findings.map((f) => f.reason);

      expect(reasons).toContain("privileges added: billing on database");
      expect(reasons).toContain("default privileges revoked: public on function keeps none");
      expect(reasons).toContainEqual(expect.stringContaining('Vault\'s admin may now create users for Vault role "billing-db", in billing'));
      expect(reasons).toContain('new Vault role "billing-db" issues credentials');
    });

    it("reports only dev, with the other environments in one line", () => {
      expect(stacks.filter((s) => s.resources.length).map((s) => s.stack)).toEqual(["keybuzz-dev"]);
      expect(report).toContain("## keybuzz-dev: 6 to add, 4 to change, 0 to replace, 0 to destroy");
      expect(report).toContain("Unchanged: keybuzz-local, keybuzz-prod, keybuzz-staging.");
      expect(report).toContain("SELECT keybuzz_vault.create_user('{{name}}', '{{password}}', '{{expiration}}', 'billing-db');");
      // the function bodies show as the lines that changed, not whole.
      expect(report).toContain("  +       ('billing-db', 'billing', ARRAY['billing']::pg_catalog.text[], 20, 86400)");
      expect(report).not.toContain("CREATE ROLE %I");
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
      expect(resource(dev, "vault_database_secrets_mount", "database")?.attributes).toEqual([
        { path: "max_lease_ttl_seconds", before: 86400, after: 172800 },
      ]);
    });

    it("flags both as TTL increases", () => {
      expect(findings.map((f) => f.reason)).toEqual([
        'longest VALID UNTIL of "chatwoot-db" users raised: 86400s → 172800s',
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

  describe("a lease budget raised", () => {
    const { dev, findings, report } = review((c) => (c.dev.applications[1].replicas = 3));

    it("reads each application's budget from the applications output, before and after", () => {
      expect(dev.leaseBudgets).toEqual([
        { application: "chatwoot", before: 4, after: 12 },
        { application: "keybuzz-api", before: 4, after: 4 },
        { application: "n8n", before: 4, after: 4 },
        { application: "workers", before: 4, after: 4 },
      ]);
      expect(dev.resources).toEqual([]);
    });

    it("flags the raise and prints every application's budget", () => {
      expect(findings.map((f) => f.reason)).toEqual([
        "lease budget of chatwoot raised: 4 → 12 (more credentials at once before the lease audit reports a crash loop)",
      ]);
      expect(report).toContain("Lease budgets: chatwoot 4 → 12, keybuzz-api 4, n8n 4, workers 4");
    });

    it("does not flag a budget lowered", () => {
      const lowered = review((c) => (c.dev.applications[1].leaseBudget = 2));

      expect(lowered.findings).toEqual([]);
      expect(lowered.report).toContain("Lease budgets: chatwoot 4 → 2,");
    });
  });

  describe("sslmode weakened", () => {
    const { findings, dev } = review((c) => (c.dev.postgres.sslmode = "disable"));

    it("flags Vault's connection URL and Terraform's provider", () => {
      expect(findings.map((f) => f.reason)).toEqual([
        "Terraform's postgresql provider: sslmode weakened: verify-full → disable",
        "Vault's sslmode weakened: verify-full → disable",
      ]);
      expect(dev.settings).toEqual([
        // the workers' agent renders the weaker sslmode into their service file too.
        {
          path: "agent.workers/agent.hcl",
          before: expect.stringContaining("\nsslmode=verify-full\n"),
          after: expect.stringContaining("\nsslmode=disable\n"),
        },
        { path: "provider.postgresql.sslmode", before: "verify-full", after: "disable" },
      ]);
    });

    it("shows the change inside the mount's connection block attribute by attribute, and flags it there", () => {
      const mount = resource(dev, "vault_database_secrets_mount", "database");

      expect(mount).toMatchObject({
        kind: "changed",
        attributes: [
          {
            path: "postgresql.0.connection_url",
            before: "postgresql://{{username}}:{{password}}@10.0.0.21:5432/keybuzz?sslmode=verify-full",
            after: "postgresql://{{username}}:{{password}}@10.0.0.21:5432/keybuzz?sslmode=disable",
          },
        ],
      });
      expect(findings.find((f) => f.resource === mount)?.reason).toBe("Vault's sslmode weakened: verify-full → disable");
    });
  });

  describe("the connection renamed", () => {
    const { dev, findings, report } = review((c) => (c.dev.connection.name = "pg-main"));

    it("shows the mount as replaced, since the name of a connection block forces a new mount", () => {
      expect(resource(dev, "vault_database_secrets_mount", "database")).toMatchObject({
        kind: "replaced",
        replaceReason: "changing postgresql.name forces a new vault_database_secrets_mount",
        attributes: [{ path: "postgresql.0.name", before: "keybuzz-postgres", after: "pg-main" }],
      });
    });

    it("flags the replacement, which revokes every lease of the mount", () => {
      expect(findings.map((f) => f.reason)).toEqual([
        "would be destroyed and recreated: changing postgresql.name forces a new vault_database_secrets_mount",
      ]);
      // every dynamic role's db_name: the applications' four and the lease audit's three.
      expect(report).toContain("## keybuzz-dev: 0 to add, 7 to change, 1 to replace, 0 to destroy");
    });

    it("changes the dynamic roles' db_name in place", () => {
      expect(resource(dev, "vault_database_secret_backend_role", "n8n-db")).toMatchObject({
        kind: "changed",
        attributes: [{ path: "db_name", before: "keybuzz-postgres", after: "pg-main" }],
      });
    });
  });

  describe("data protection lifted", () => {
    const { dev, findings } = review((c) => (c.dev.postgres.protectData = false));
    const reasonOf = (type: string, label: string) => findings.find((f) => f.resource === resource(dev, type, label))?.reason;

    it("changes prevent_destroy of the database and of every schema, and drop_cascade of every schema", () => {
      expect(resource(dev, "postgresql_database", "keybuzz")).toMatchObject({
        kind: "changed",
        attributes: [{ path: "lifecycle.prevent_destroy", before: true, after: false }],
      });
      expect(resource(dev, "postgresql_schema", "n8n")).toMatchObject({
        kind: "changed",
        attributes: [
          { path: "drop_cascade", before: false, after: true },
          { path: "lifecycle.prevent_destroy", before: true, after: false },
        ],
      });
    });

    it("flags the database, which Terraform may now drop", () => {
      expect(reasonOf("postgresql_database", "keybuzz")).toBe(
        "data protection lifted: Terraform may now drop this database and everything in it (prevent_destroy true → false)",
      );
    });

    it("flags each schema, which a destroy would now drop CASCADE", () => {
      expect(findings.filter((f) => f.resource?.type === "postgresql_schema")).toHaveLength(4);
      expect(reasonOf("postgresql_schema", "n8n")).toBe(
        "a destroy would drop the schema CASCADE, with every table in it; " +
          "data protection lifted: Terraform may now drop this schema and everything in it (prevent_destroy true → false)",
      );
    });

    it("does not flag protection put back", () => {
      const before = synthesizeVariant((c) => (c.dev.postgres.protectData = false));
      dirs.push(before);
      const stacks = compareOutputs(loadStacks(before), loadStacks(BASE));

      expect(stacks.find((s) => s.stack === "keybuzz-dev")?.resources.length).toBe(5);
      expect(findRisks(stacks)).toEqual([]);
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
        constructPath: "Applications/n8n-automation/DynamicRole/Resource",
        renamedFrom: { constructPath: "Applications/n8n/DynamicRole/Resource" },
      });
      // the policy is no twin: its text names the application, so it really changes with the rename.
      expect(dev.resources.filter((r) => r.kind === "removed" || r.kind === "added")).toEqual([]);
    });

    it("says which rename caused it and how to keep the resource with a moved block written by the stack", () => {
      const reason = findings.find((f) => f.resource?.label === "n8n-db")!.reason;

      expect(reason).toContain("its construct ID changed (Applications/n8n/DynamicRole/Resource → Applications/n8n-automation/DynamicRole/Resource)");
      expect(reason).toMatch(
        /in the stack, `movedFrom\(resource, <its old construct path>\)` \(stacks\/moved\.ts\) writes a `moved` block from vault_database_secret_backend_role\.Applications_n8n_DynamicRole_[0-9A-F]+$/,
      );
      expect(report).toContain("was `vault_database_secret_backend_role.Applications_n8n_DynamicRole_");
    });
  });

  describe("an agent's command changed", () => {
    const { dev, report } = review((c) => {
      const workers = c.dev.applications.find((a: RawConfig) => a.name === "workers");
      workers.agent = { command: ["systemctl", "reload", "keybuzz-workers"] };
    });

    it("reports the agent's file as a stack setting, and nothing else", () => {
      expect(dev.resources).toEqual([]);
      expect(dev.settings.map((s) => s.path)).toEqual(["agent.workers/agent.hcl"]);
    });

    it("shows the change as a line diff of the file", () => {
      expect(report).toContain("- `agent.workers/agent.hcl`:");
      expect(report).toContain("  ```diff");
      expect(report).toContain("  +   # after each render: the application switches to the new credentials.");
      expect(report).toContain('  +     command = ["systemctl", "reload", "keybuzz-workers"]');
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
    const gone = compareStack("keybuzz-y", { resource: { vault_database_secrets_mount: { M: { path: "database" } } } }, undefined);

    expect(gone.status).toBe("deleted");
    expect(findRisks([gone]).map((f) => f.reason)).toEqual([
      "the whole environment's stack is gone: everything in it would be destroyed",
      "would be destroyed",
    ]);
  });

  it("follows a moved block instead of reporting a destroy", () => {
    const before = { resource: { vault_database_secrets_mount: { Old: { path: "database" } } } };
    const after = {
      resource: { vault_database_secrets_mount: { New: { path: "database" } } },
      moved: [{ from: "vault_database_secrets_mount.Old", to: "vault_database_secrets_mount.New" }],
    };

    expect(compareStack("s", before, after).resources).toEqual([
      expect.objectContaining({
        address: "vault_database_secrets_mount.New",
        kind: "changed",
        movedFrom: "vault_database_secrets_mount.Old",
        attributes: [],
      }),
    ]);
  });
});

describe("attributeChanges", () => {
  const block = { name: "keybuzz-postgres", connection_url: "postgresql://h/keybuzz?sslmode=verify-full", allowed_roles: ["a-db"] };

  it("compares a nested block attribute by attribute, the block's index in the path", () => {
    const after = { ...block, connection_url: "postgresql://h/keybuzz?sslmode=disable", name: "pg-main" };

    expect(attributeChanges({ postgresql: [block] }, { postgresql: [after] })).toEqual([
      { path: "postgresql.0.connection_url", before: block.connection_url, after: after.connection_url },
      { path: "postgresql.0.name", before: "keybuzz-postgres", after: "pg-main" },
    ]);
  });

  it("shows a list of values inside a block whole", () => {
    const after = { ...block, allowed_roles: ["a-db", "b-db"] };

    expect(attributeChanges({ postgresql: [block] }, { postgresql: [after] })).toEqual([
      { path: "postgresql.0.allowed_roles", before: ["a-db"], after: ["a-db", "b-db"] },
    ]);
  });

  it("shows a list of values whole", () => {
    expect(attributeChanges({ creation_statements: ["a", "b"] }, { creation_statements: ["a", "c", "b"] })).toEqual([
      { path: "creation_statements", before: ["a", "b"], after: ["a", "c", "b"] },
    ]);
  });

  it("shows the list of blocks whole when a block is added", () => {
    const other = { ...block, name: "pg-replica" };

    expect(attributeChanges({ postgresql: [block] }, { postgresql: [block, other] })).toEqual([
      { path: "postgresql", before: [block], after: [block, other] },
    ]);
  });
});
