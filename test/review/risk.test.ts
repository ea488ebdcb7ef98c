import { describe, expect, it } from "vitest";
import { findRisks, resourceFindings } from "../../review/risk";
import type { ResourceChange, StackDiff } from "../../review/model";

function changed(type: string, attributes: ResourceChange["attributes"], label = "x"): ResourceChange {
  return { address: `${type}.X`, type, label, kind: "changed", attributes };
}

const reasons = (r: ResourceChange) => resourceFindings("keybuzz-prod", r).map((f) => f.reason);

describe("risk", () => {
  it.each([
    ["superuser", false, true],
    ["create_role", true, false],
    ["login", false, true],
  ])("flags a change of the role attribute %s", (attr, before, after) => {
    expect(reasons(changed("postgresql_role", [{ path: attr, before, after }]))).toEqual([`role attribute ${attr}: ${before} → ${after}`]);
  });

  it("says which memberships a role gains or loses", () => {
    expect(reasons(changed("postgresql_role", [{ path: "roles", before: ["pg_read_all_stats"], after: [] }]))).toEqual([
      "role memberships narrowed: -pg_read_all_stats",
    ]);
    expect(reasons(changed("postgresql_role", [{ path: "roles", before: [], after: ["pg_read_all_data"] }]))).toEqual([
      "role memberships widened: +pg_read_all_data",
    ]);
  });

  it("calls a new grant of no privileges a revoke, and a new grant of some an addition", () => {
    const grant = (privileges: string[]): ResourceChange => ({
      address: "postgresql_grant.A",
      type: "postgresql_grant",
      label: "public on function keybuzz_leases",
      kind: "added",
      attributes: [{ path: "privileges", after: privileges }],
    });
    expect(reasons(grant([]))).toEqual(["privileges revoked: public on function keybuzz_leases keeps none"]);
    expect(reasons(grant(["EXECUTE"]))).toEqual(["privileges added: public on function keybuzz_leases"]);
  });

  it("does not flag a harmless role change", () => {
    expect(reasons(changed("postgresql_role", [{ path: "connection_limit", before: -1, after: 20 }]))).toEqual([]);
  });

  it.each(["creation_statements", "revocation_statements", "renew_statements"])("flags %s changing", (attr) => {
    const name = attr.replace("_", " ");
    expect(reasons(changed("vault_database_secret_backend_role", [{ path: attr, before: ["a"], after: ["b"] }]))).toEqual([`${name} changed`]);
  });

  it("flags Vault connecting as another user, in the mount's connection block", () => {
    expect(reasons(changed("vault_database_secrets_mount", [{ path: "postgresql.0.username", before: "vault_admin", after: "postgres" }]))).toEqual([
      'Vault connects as another user: "vault_admin" → "postgres"',
    ]);
  });

  it.each([
    [undefined, "PEM-A", "added"],
    ["PEM-A", "PEM-B", "replaced"],
    ["PEM-A", undefined, "removed (Vault falls back to its system trust store)"],
  ])("flags the connection's tls_ca %s → %s", (before, after, how) => {
    expect(reasons(changed("vault_database_secrets_mount", [{ path: "postgresql.0.tls_ca", before, after }]))).toEqual([
      `the CA Vault trusts for PostgreSQL (tls_ca) ${how}`,
    ]);
  });

  it("flags Vault's sslmode weakened in the connection block's URL", () => {
    const url = (mode: string) => `postgresql://{{username}}:{{password}}@10.0.0.11:5432/keybuzz?sslmode=${mode}`;

    expect(
      reasons(changed("vault_database_secrets_mount", [{ path: "postgresql.0.connection_url", before: url("verify-full"), after: url("require") }])),
    ).toEqual(["Vault's sslmode weakened: verify-full → require"]);
  });

  it.each([
    ["postgresql_database", "database", false],
    ["postgresql_database", "database", undefined],
    ["postgresql_schema", "schema", false],
    ["postgresql_schema", "schema", undefined],
  ])("flags data protection lifted from a %s (prevent_destroy true → %s)", (type, what, after) => {
    expect(reasons(changed(type, [{ path: "lifecycle.prevent_destroy", before: true, after }]))).toEqual([
      `data protection lifted: Terraform may now drop this ${what} and everything in it (prevent_destroy true → ${after === undefined ? "unset" : after})`,
    ]);
  });

  it.each(["postgresql_database", "postgresql_schema"])("flags a %s's whole lifecycle block removed while it protected the data", (type) => {
    expect(reasons(changed(type, [{ path: "lifecycle", before: { prevent_destroy: true }, after: undefined }]))).toEqual([
      `data protection lifted: Terraform may now drop this ${type === "postgresql_database" ? "database" : "schema"} and everything in it (prevent_destroy true → unset)`,
    ]);
  });

  it.each(["postgresql_database", "postgresql_schema"])("does not flag data protection put on a %s", (type) => {
    expect(reasons(changed(type, [{ path: "lifecycle.prevent_destroy", before: false, after: true }]))).toEqual([]);
  });

  it("does not flag prevent_destroy lifted from a resource that holds no data", () => {
    expect(reasons(changed("vault_database_secrets_mount", [{ path: "lifecycle.prevent_destroy", before: true, after: false }]))).toEqual([]);
  });

  it("flags a schema's drop_cascade turned on", () => {
    expect(reasons(changed("postgresql_schema", [{ path: "drop_cascade", before: false, after: true }]))).toEqual([
      "a destroy would drop the schema CASCADE, with every table in it",
    ]);
  });

  it("does not flag a schema's drop_cascade turned off", () => {
    expect(reasons(changed("postgresql_schema", [{ path: "drop_cascade", before: true, after: false }]))).toEqual([]);
  });

  it("flags a new role created with powers", () => {
    const role: ResourceChange = {
      address: "postgresql_role.A",
      type: "postgresql_role",
      label: "vault_admin",
      kind: "added",
      attributes: [
        { path: "superuser", after: true },
        { path: "create_role", after: false },
      ],
    };

    expect(reasons(role)).toEqual(['new role "vault_admin" with superuser']);
  });

  it.each([
    ["vault_policy", "policy", "Vault policy changed: policy"],
    ["vault_approle_auth_backend_role", "token_policies", "AppRole auth binding changed: token_policies"],
    ["vault_kubernetes_auth_backend_role", "bound_service_account_namespaces", "Kubernetes auth binding changed: bound_service_account_namespaces"],
  ])("flags a change of a %s", (type, attr, reason) => {
    expect(reasons(changed(type, [{ path: attr, before: "a", after: "b" }]))).toEqual([reason]);
  });

  describe("the credential functions", () => {
    const row = (role: string, roles: string, limit: number, ttl: number) =>
      `      ('${role}', '${roles.split(",")[0]}', ARRAY[${roles
        .split(",")
        .map((r) => `'${r}'`)
        .join(", ")}]::pg_catalog.text[], ${limit}, ${ttl})`;
    const body = (...rows: string[]) =>
      `\nBEGIN\n  SELECT * INTO spec FROM (VALUES\n${rows.join(",\n")}\n    ) AS app(vault_role, base_role, roles, connection_limit, max_ttl)\nEND\n`;
    const createUser = (before: string, after: string) => changed("postgresql_function", [{ path: "body", before, after }], "create_user");

    it("flags a raised connection limit, a longer VALID UNTIL and more roles for a Vault role's users", () => {
      const before = body(row("chatwoot-db", "chatwoot", 20, 86400));
      const after = body(row("chatwoot-db", "chatwoot,n8n", 100, 172800));

      expect(reasons(createUser(before, after))).toEqual([
        'users of "chatwoot-db" get other roles: chatwoot → chatwoot, n8n',
        'connection limit of each "chatwoot-db" user raised: 20 → 100',
        'longest VALID UNTIL of "chatwoot-db" users raised: 86400s → 172800s',
      ]);
    });

    it("flags a new Vault role that may create users, and nothing else when only a row is added", () => {
      const before = body(row("chatwoot-db", "chatwoot", 20, 86400));
      const after = body(row("chatwoot-db", "chatwoot", 20, 86400), row("billing-db", "billing", 20, 86400));

      expect(reasons(createUser(before, after))).toEqual(['Vault\'s admin may now create users for Vault role "billing-db", in billing']);
      expect(reasons(changed("postgresql_function", [{ path: "body", before, after }], "drop_user"))).toEqual([]);
    });

    it("does not flag a lowered connection limit", () => {
      expect(reasons(createUser(body(row("a-db", "a", 20, 60)), body(row("a-db", "a", 5, 60))))).toEqual([]);
    });

    it("flags any other change of the SQL, in any of the three functions", () => {
      const before = body(row("a-db", "a", 20, 60));
      const after = before.replace("BEGIN", "BEGIN\n  EXECUTE 'ALTER ROLE vault_admin SUPERUSER';");

      expect(reasons(changed("postgresql_function", [{ path: "body", before, after }], "drop_user"))).toEqual([
        "the SQL Vault's admin runs through drop_user changed",
      ]);
    });
  });

  it("says what is lost when a closed database or the reserved connections leave the stack", () => {
    const removed = (type: string, label: string, attrs: Record<string, unknown>): ResourceChange => ({
      address: `${type}.X`,
      type,
      label,
      kind: "removed",
      attributes: Object.entries(attrs).map(([path, before]) => ({ path, before })),
    });

    expect(
      reasons(removed("postgresql_grant", "public on database", { database: "template1", role: "public", object_type: "database", privileges: [] })),
    ).toEqual([
      "would be destroyed",
      "this stack no longer keeps PUBLIC out of database template1: issued users of a new cluster could log in there (an existing one stays closed: a destroy does not grant back)",
    ]);
    expect(
      reasons(
        removed("postgresql_grant_role", "pg_use_reserved_connections to vault_admin", {
          role: "vault_admin",
          grant_role: "pg_use_reserved_connections",
        }),
      ),
    ).toEqual(["would be destroyed", "Vault's admin loses its reserved connections: issued users filling every slot would keep it out"]);
    expect(
      reasons(removed("postgresql_grant", "app on database", { database: "keybuzz", role: "app", object_type: "database", privileges: ["CONNECT"] })),
    ).toEqual(["would be destroyed"]);
  });

  it("flags a state backend change at stack level", () => {
    const stack: StackDiff = {
      stack: "keybuzz-prod",
      source: "synth",
      leaseBudgets: [],
      resources: [],
      settings: [{ path: "backend.local.path", before: "../../../a.tfstate", after: "../../../b.tfstate" }],
    };

    expect(findRisks([stack]).map((f) => f.reason)).toEqual([
      'state backend changed (backend.local.path): "../../../a.tfstate" → "../../../b.tfstate"',
    ]);
  });

  it("joins the reasons of one resource into one finding", () => {
    const stack: StackDiff = {
      stack: "s",
      source: "synth",
      leaseBudgets: [],
      settings: [],
      resources: [
        changed("vault_database_secret_backend_role", [
          { path: "max_ttl", before: 3600, after: 7200 },
          { path: "creation_statements", before: ["a"], after: ["b"] },
        ]),
      ],
    };

    expect(findRisks([stack]).map((f) => f.reason)).toEqual(["TTL raised: max_ttl 3600 → 7200; creation statements changed"]);
  });
});
