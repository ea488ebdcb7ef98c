import { describe, expect, it } from "vitest";
import type { TerraformStack } from "cdktf";
import { BaseRoles } from "../../constructs/base-roles";
import { CredentialFunctions } from "../../constructs/credential-functions";
import { VaultAdmin, type VaultAdminProps } from "../../constructs/vault-admin";
import { dependency, passwordVariable, ref, resources, synthStack } from "../helpers";

function build(stack: TerraformStack, props: Partial<VaultAdminProps> = {}, roles = ["app"]) {
  const baseRoles = new BaseRoles(stack, "BaseRoles", { roles: roles.map((name) => ({ name })), databaseName: "keybuzz" });
  const functions = new CredentialFunctions(stack, "CredentialFunctions", { baseRoles });
  // what a DynamicRole does: one application for the functions to serve.
  functions.addApplication({ vaultRole: "app-db", baseRoles: [baseRoles.role(roles[0])], connectionLimit: 20, maxTtlSeconds: 86400 });
  const password = passwordVariable(stack).stringValue;
  const admin = new VaultAdmin(stack, "VaultAdmin", { baseRoles, functions, password, ...props });
  return { baseRoles, functions, admin };
}

function synthAdmin(props: Partial<VaultAdminProps> = {}, roles = ["app"]) {
  const { json, built } = synthStack((stack) => build(stack, props, roles));
  const role = resources(json, "postgresql_role").find((r) => r.login === true);
  return { json, role, ...built };
}

describe("VaultAdmin", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthAdmin();
    expect(json).toMatchSnapshot();
  });

  it("creates a LOGIN role named vault_admin by default", () => {
    const { role, admin } = synthAdmin();

    expect(role).toMatchObject({ name: "vault_admin", login: true });
    expect(admin.username).toBe("vault_admin");
  });

  it("takes another role name", () => {
    const { role } = synthAdmin({ username: "vault_keybuzz" });

    expect(role).toMatchObject({ name: "vault_keybuzz" });
  });

  it("holds no role attribute and no membership by default", () => {
    const { json, role, admin } = synthAdmin({}, ["app", "worker"]);

    expect(role).toMatchObject({ superuser: false });
    expect(role).not.toHaveProperty("create_role");
    expect(role).not.toHaveProperty("create_database");
    expect(resources(json, "postgresql_grant_role")).toEqual([]);
    expect(admin.superuser).toBe(false);
  });

  it("gets CONNECT on the application database, USAGE on the functions' schema and EXECUTE on the functions only", () => {
    const { json, baseRoles, functions, admin } = synthAdmin();

    const own = resources(json, "postgresql_grant").filter((g) => g.role === ref(admin.resource));
    expect(own).toEqual([
      { database: ref(baseRoles.database), role: ref(admin.resource), object_type: "database", privileges: ["CONNECT"] },
      { database: ref(baseRoles.database), role: ref(admin.resource), schema: ref(functions.schema), object_type: "schema", privileges: ["USAGE"] },
      expect.objectContaining({ schema: ref(functions.schema), object_type: "function", privileges: ["EXECUTE"] }),
    ]);
  });

  it("joins pg_use_reserved_connections when reservedConnections is set", () => {
    const { json, admin } = synthAdmin({ reservedConnections: true });

    expect(resources(json, "postgresql_grant_role")).toEqual([{ role: ref(admin.resource), grant_role: "pg_use_reserved_connections" }]);
  });

  it("ignores changes to its role memberships, which Vault and the grants manage", () => {
    const { role } = synthAdmin();

    expect(role).toMatchObject({ lifecycle: { ignore_changes: ["roles"] } });
  });

  it("sends the password only through password_wo, referencing the sensitive variable", () => {
    const { role } = synthAdmin();

    expect(role).toMatchObject({ password_wo: "${var.vault_admin_password}", password_wo_version: "1" });
    expect(role).not.toHaveProperty("password");
  });

  it("bumps password_wo_version with passwordVersion", () => {
    const { role, admin } = synthAdmin({ passwordVersion: 2 });

    expect(role).toMatchObject({ password_wo_version: "2" });
    expect(admin.passwordVersion).toBe(2);
  });

  it("is a SUPERUSER without CONNECT or function grants when superuser is set", () => {
    // WHEN
    const { json, role, admin } = synthAdmin({ superuser: true }, ["app", "worker"]);

    // THEN
    expect(role).toMatchObject({ superuser: true });
    expect(resources(json, "postgresql_grant_role")).toEqual([]);
    expect(resources(json, "postgresql_grant")).not.toContainEqual(expect.objectContaining({ role: ref(admin.resource) }));
  });

  it("lists every base role with its grants, the closed databases and the functions, which must outlive Vault's connection", () => {
    // WHEN
    const { json, admin, baseRoles, functions } = synthAdmin({}, ["app", "worker"]);

    // THEN
    const dependables = admin.dependables.map(dependency);
    const baseRoleResources = baseRoles.allRoles.flatMap((r) => [r.resource, ...r.grants]).map(dependency);
    const others = [...baseRoles.closedDatabases, ...functions.resources].map(dependency);
    expect(dependables).toEqual(
      expect.arrayContaining([dependency(admin.resource), dependency(baseRoles.database), ...baseRoleResources, ...others]),
    );
    expect(dependables.filter((d) => d.startsWith("postgresql_schema.BaseRoles"))).toHaveLength(resources(json, "postgresql_schema").length - 1);
    // the admin's own resources (role, CONNECT, USAGE, EXECUTE), the database, the base roles', the rest: nothing else.
    expect(dependables).toHaveLength(4 + 1 + baseRoleResources.length + others.length);
  });

  it("needs the same resources, without its own grants, when superuser", () => {
    const { admin, baseRoles, functions } = synthAdmin({ superuser: true });

    const app = baseRoles.role("app");
    expect(admin.dependables.map(dependency)).toEqual(
      [admin.resource, baseRoles.database, app.resource, ...app.grants, ...baseRoles.closedDatabases, ...functions.resources].map(dependency),
    );
  });

  it("fails when the password is a literal", () => {
    expect(() => synthStack((stack) => build(stack, { password: "hunter2" }))).toThrow(
      "password must be a reference to a sensitive Terraform variable, not a literal",
    );
  });

  it.each(["Vault_Admin", "vault admin", 'vault"admin', "v".repeat(64), "pg_vault"])("fails when the username is %j", (username) => {
    expect(() => synthAdmin({ username })).toThrow(`username must be a lower-case PostgreSQL identifier, got "${username}"`);
  });

  it.each([0, -1, 1.5])("fails when passwordVersion is %d", (passwordVersion) => {
    expect(() => synthAdmin({ passwordVersion })).toThrow(`passwordVersion must be a positive integer, got ${passwordVersion}`);
  });
});
