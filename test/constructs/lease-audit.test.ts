import { describe, expect, it } from "vitest";
import {
  DEFAULT_LEASE_AUDIT_PREFIX,
  LeaseAudit,
  type LeaseAuditNames,
  leaseAuditNames,
  leaseAuditPolicyDocument,
  leaseAuditRoles,
} from "../../constructs/lease-audit";
import { dynamicRoles, resources, synthStack } from "../helpers";

/** The names a LeaseAudit without `names` uses. */
const LEASE_AUDIT_NAMES = leaseAuditNames(DEFAULT_LEASE_AUDIT_PREFIX);

function synthAudit(mountPath?: string, names?: LeaseAuditNames) {
  const { json, built } = synthStack((s) => {
    const f = dynamicRoles(s, [{ name: "app-db" }], { mountPath });
    return new LeaseAudit(s, "LeaseAudit", { connection: f.connection, functions: f.functions, baseRoles: f.baseRoles, admin: f.admin, names });
  });
  return { json, audit: built };
}

/** Every `path "…"` block of a policy: path → its body, capabilities and parameters included. */
function blocks(policy: string): Record<string, string> {
  return Object.fromEntries(
    [...policy.matchAll(/path "([^"]+)" \{([\s\S]*?)\n\}/g)].map(([, path, body]) => [path, body.replace(/\s+/g, " ").trim()]),
  );
}

describe("LeaseAudit", () => {
  it("synthesizes a minimal definition", () => {
    expect(synthAudit().json).toMatchSnapshot();
  });

  it("gives the probe's base role no privilege at all, the audit's CONNECT and EXECUTE on orphan_sessions (no pg_read_all_stats), the fix's EXECUTE on drop_user too", () => {
    const { json } = synthAudit();
    const roles = Object.fromEntries(resources(json, "postgresql_role").map((r) => [r.name, r]));
    expect(roles[LEASE_AUDIT_NAMES.probeBaseRole]).toMatchObject({ login: false, roles: [] });
    expect(roles[LEASE_AUDIT_NAMES.auditBaseRole]).toMatchObject({ login: false, roles: [] });
    expect(roles[LEASE_AUDIT_NAMES.fixBaseRole]).toMatchObject({ login: false, roles: [] });
    const grants = resources(json, "postgresql_grant").filter((g) => String(g.role).includes("LeaseAudit_"));
    const owner = (g: Record<string, unknown>) => /LeaseAudit_(\w+?)BaseRole/.exec(String(g.role))?.[1];
    const summary = grants
      .map((g) => `${owner(g)}: ${g.object_type} ${(g.objects as string[] | undefined)?.join(",") ?? ""} ${(g.privileges as string[]).join(",")}`)
      .sort();
    expect(summary).toEqual([
      "Audit: database  CONNECT",
      "Audit: function orphan_sessions EXECUTE",
      "Audit: schema  USAGE",
      "Fix: database  CONNECT",
      "Fix: function drop_user EXECUTE",
      "Fix: schema  USAGE",
    ]);
  });

  it("tells the audit of dropped roles' sessions through one SECURITY DEFINER function, which PUBLIC may not run", () => {
    const { json } = synthAudit();
    const fn = resources(json, "postgresql_function").find((f) => f.name === LEASE_AUDIT_NAMES.orphanSessionsFunction)!;
    expect(fn).toMatchObject({ name: "orphan_sessions", returns: "jsonb", language: "plpgsql", security_definer: true });
    expect(fn.schema).toMatch(/postgresql_schema\.LeaseAudit_OrphanSessions_Schema/);
    // the search path is pinned first; four columns of sessions whose role is gone, never a statement.
    expect(String(fn.body).split("\n")[2]).toContain("pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)");
    expect(String(fn.body)).toContain("NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a.usesysid)");
    expect(String(fn.body)).not.toMatch(/\bquery\b/);
    const publicGrant = resources(json, "postgresql_grant").find((g) => g.role === "public" && String(g.schema).includes("OrphanSessions"));
    expect(publicGrant).toMatchObject({ object_type: "function", privileges: [] });
    expect(publicGrant?.depends_on).toEqual([expect.stringMatching(/^postgresql_function\.LeaseAudit_OrphanSessions_Function/)]);
  });

  it("makes the mount wait for its base roles and grants: a destroy revokes the audit's leases before dropping them", () => {
    const { json } = synthAudit();
    const mount = resources(json, "vault_database_secrets_mount")[0];
    const own = (mount.depends_on as string[])
      .filter((d) => d.includes("LeaseAudit"))
      .map((d) => d.replace(/_[0-9A-F]{8}$/, ""))
      .sort();
    expect(own).toEqual(
      [
        "postgresql_grant.LeaseAudit_AuditBaseRole_Connect",
        "postgresql_grant.LeaseAudit_AuditBaseRole_OrphanSessions",
        "postgresql_grant.LeaseAudit_AuditBaseRole_SessionsSchema",
        "postgresql_grant.LeaseAudit_FixBaseRole_Connect",
        "postgresql_grant.LeaseAudit_FixBaseRole_DropUser",
        "postgresql_grant.LeaseAudit_FixBaseRole_FunctionsSchema",
        "postgresql_grant.LeaseAudit_OrphanSessions_RevokePublicExecute",
        "postgresql_role.LeaseAudit_AuditBaseRole",
        "postgresql_role.LeaseAudit_FixBaseRole",
        "postgresql_role.LeaseAudit_ProbeBaseRole",
        "postgresql_function.LeaseAudit_OrphanSessions_Function",
        "postgresql_schema.LeaseAudit_OrphanSessions_Schema",
      ].sort(),
    );
  });

  it("adds three Vault roles whose users join only the audit's base roles, with short leases", () => {
    const { audit } = synthAudit();
    expect(Object.values(audit.roles).map((r) => [r.roleName, r.baseRole, r.defaultTtlSeconds, r.maxTtlSeconds])).toEqual([
      ["leases-probe", "vault_leases_probe", 60, 3600],
      ["leases-audit", "vault_leases_audit", 600, 3600],
      ["leases-fix", "vault_leases_fix", 600, 3600],
    ]);
  });

  it("builds exactly the roles leaseAuditRoles() lists, which npm run leases reads: each Vault role's base roles in the creation statements' table", () => {
    const { audit, json } = synthAudit();
    const listed = leaseAuditRoles(LEASE_AUDIT_NAMES);
    expect(Object.keys(audit.roles)).toEqual(listed.map((r) => r.job));
    expect(listed.map((r) => [r.vaultRole, r.defaultTtlSeconds])).toEqual(Object.values(audit.roles).map((r) => [r.roleName, r.defaultTtlSeconds]));
    const body = String(resources(json, "postgresql_function").find((f) => f.name === "create_user")?.body);
    for (const r of listed) expect(body).toContain(`ARRAY[${r.baseRoles.map((b) => `'${b}'`).join(", ")}]`);
  });

  it("takes its names from a prefix, in PostgreSQL and in Vault's policies", () => {
    const names = leaseAuditNames("acme");
    expect(names).toMatchObject({
      probeBaseRole: "acme_leases_probe",
      auditBaseRole: "acme_leases_audit",
      fixBaseRole: "acme_leases_fix",
      sessionsSchema: "acme_leases",
      auditPolicy: "acme-leases-audit",
      fixPolicy: "acme-leases-fix",
    });
    const { json } = synthAudit(undefined, names);
    expect(resources(json, "postgresql_role").map((r) => r.name)).toEqual(
      expect.arrayContaining(["acme_leases_probe", "acme_leases_audit", "acme_leases_fix"]),
    );
    expect(resources(json, "postgresql_schema").map((r) => r.name)).toContain("acme_leases");
    expect(resources(json, "vault_policy").map((p) => p.name)).toEqual(["acme-leases-audit", "acme-leases-fix"]);
  });

  it("fails when an application's base role takes one of its names, as the config refuses it", () => {
    expect(() =>
      synthStack((s) => {
        const f = dynamicRoles(s, [{ name: "app-db" }], { baseRoles: [{ name: "app" }, { name: "vault_leases_audit" }] });
        return new LeaseAudit(s, "LeaseAudit", { connection: f.connection, functions: f.functions, baseRoles: f.baseRoles, admin: f.admin });
      }),
    ).toThrow(
      'base role "vault_leases_audit" is reserved for the lease audit (vault_leases_probe, vault_leases_audit, vault_leases_fix, vault_leases)',
    );
  });

  it.each(["", "Acme", "1acme", "ac-me", "ac_me"])("fails when the prefix is %j", (prefix) => {
    expect(() => leaseAuditNames(prefix)).toThrow(
      `the lease audit's prefix must be lower-case letters and digits, starting with a letter, got "${prefix}"`,
    );
  });

  it("audit policy: this mount's lease metadata (lease_id limited to its credentials), irrevocable leases, its own credentials; no revocation of others' leases", () => {
    const b = blocks(leaseAuditPolicyDocument("database", false, LEASE_AUDIT_NAMES));
    expect(b).toEqual({
      "sys/leases/lookup/database/creds/*": 'capabilities = ["list", "sudo"]',
      "sys/leases/lookup": 'capabilities = ["update"] allowed_parameters = { "lease_id" = ["database/creds/*"] }',
      "sys/leases": 'capabilities = ["read", "sudo"]',
      "database/creds/leases-probe": 'capabilities = ["read"]',
      "sys/leases/revoke/database/creds/leases-probe/*": 'capabilities = ["update"]',
      "database/creds/leases-audit": 'capabilities = ["read"]',
      "sys/leases/revoke/database/creds/leases-audit/*": 'capabilities = ["update"]',
    });
  });

  it("fix policy: the audit's, its own credentials, and revocation of this mount's leases by ID in the path", () => {
    const audit = blocks(leaseAuditPolicyDocument("kv/db", false, LEASE_AUDIT_NAMES));
    const fix = blocks(leaseAuditPolicyDocument("kv/db", true, LEASE_AUDIT_NAMES));
    const added = Object.fromEntries(Object.entries(fix).filter(([p]) => !(p in audit)));
    expect(added).toEqual({
      "kv/db/creds/leases-fix": 'capabilities = ["read"]',
      "sys/leases/revoke/kv/db/creds/leases-fix/*": 'capabilities = ["update"]',
      "sys/leases/revoke/kv/db/creds/*": 'capabilities = ["update"]',
    });
    expect(Object.keys(audit).every((p) => p in fix)).toBe(true);
  });

  it("writes both policies with the mount path as configured", () => {
    const { json } = synthAudit("secrets/pg");
    const policies = Object.fromEntries(resources(json, "vault_policy").map((p) => [p.name, p.policy]));
    expect(policies["vault-leases-audit"]).toBe(leaseAuditPolicyDocument("secrets/pg", false, LEASE_AUDIT_NAMES));
    expect(policies["vault-leases-fix"]).toBe(leaseAuditPolicyDocument("secrets/pg", true, LEASE_AUDIT_NAMES));
  });
});
