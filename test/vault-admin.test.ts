import { describe, expect, it } from "vitest";
import type { TerraformStack } from "cdktf";
import { BaseRoles } from "../constructs/base-roles";
import { VaultAdmin, type VaultAdminProps } from "../constructs/vault-admin";
import { dependency, passwordVariable, ref, resources, synthStack } from "./helpers";

function build(stack: TerraformStack, props: Partial<VaultAdminProps> = {}, roles = ["app"]) {
  const baseRoles = new BaseRoles(stack, "BaseRoles", { roles: roles.map((name) => ({ name })) });
  const password = passwordVariable(stack).stringValue;
  const admin = new VaultAdmin(stack, "VaultAdmin", { baseRoles, password, ...props });
  return { baseRoles, admin };
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

  it("is CREATEROLE, not SUPERUSER, by default", () => {
    const { role, admin } = synthAdmin();

    expect(role).toMatchObject({ create_role: true, superuser: false });
    expect(admin.superuser).toBe(false);
  });

  it("holds each base role WITH ADMIN OPTION", () => {
    // WHEN
    const { json, baseRoles, admin } = synthAdmin({}, ["app", "worker"]);

    // THEN
    const grants = resources(json, "postgresql_grant_role");
    expect(grants).toHaveLength(2);
    for (const name of ["app", "worker"]) {
      expect(grants).toContainEqual({
        role: ref(admin.resource),
        grant_role: ref(baseRoles.role(name).resource),
        with_admin_option: true,
      });
    }
  });

  it("gets CONNECT on the application database", () => {
    const { json, baseRoles, admin } = synthAdmin();

    expect(resources(json, "postgresql_grant")).toContainEqual({
      database: ref(baseRoles.database),
      role: ref(admin.resource),
      object_type: "database",
      privileges: ["CONNECT"],
    });
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

  it("is a SUPERUSER without CREATEROLE, CONNECT or admin grants when superuser is set", () => {
    // WHEN
    const { json, role, admin } = synthAdmin({ superuser: true }, ["app", "worker"]);

    // THEN
    expect(role).toMatchObject({ superuser: true, create_role: false });
    expect(resources(json, "postgresql_grant_role")).toEqual([]);
    expect(resources(json, "postgresql_grant")).not.toContainEqual(expect.objectContaining({ role: ref(admin.resource) }));
  });

  it("lists the role, the database, CONNECT and the admin grants as what Vault needs first", () => {
    const { admin, baseRoles } = synthAdmin({}, ["app", "worker"]);

    const dependables = admin.dependables.map(dependency);
    expect(dependables).toEqual(expect.arrayContaining([dependency(admin.resource), dependency(baseRoles.database)]));
    expect(dependables.filter((d) => d.startsWith("postgresql_grant.VaultAdmin_Connect"))).toHaveLength(1);
    expect(dependables.filter((d) => d.startsWith("postgresql_grant_role."))).toHaveLength(2);
  });

  it("lists every base role with its grants and owned schemas, which must outlive Vault's connection", () => {
    // WHEN
    const { json, admin, baseRoles } = synthAdmin({}, ["app", "worker"]);

    // THEN
    const dependables = admin.dependables.map(dependency);
    const baseRoleResources = baseRoles.allRoles.flatMap((r) => [r.resource, ...r.grants]).map(dependency);
    expect(dependables).toEqual(expect.arrayContaining(baseRoleResources));
    expect(dependables.filter((d) => d.startsWith("postgresql_schema."))).toHaveLength(resources(json, "postgresql_schema").length);
    // the admin's own resources (role, CONNECT, two admin grants), the database and the base roles': nothing else.
    expect(dependables).toHaveLength(4 + 1 + baseRoleResources.length);
  });

  it("lists the database, the base roles and their grants as what Vault needs first when superuser too", () => {
    const { admin, baseRoles } = synthAdmin({ superuser: true });

    const app = baseRoles.role("app");
    expect(admin.dependables.map(dependency)).toEqual(
      [admin.resource, baseRoles.database, app.resource, ...app.grants].map(dependency),
    );
    expect(app.grants.map(dependency)).toContainEqual(expect.stringMatching(/^postgresql_schema\./));
  });

  it("fails when the password is a literal", () => {
    expect(() => synthStack((stack) => build(stack, { password: "hunter2" }))).toThrow(
      "password must be a reference to a sensitive Terraform variable, not a literal",
    );
  });

  it.each(["Vault_Admin", "vault admin", 'vault"admin', "v".repeat(64)])("fails when the username is %j", (username) => {
    expect(() => synthAdmin({ username })).toThrow(`username must be a lower-case PostgreSQL identifier, got "${username}"`);
  });

  it.each([0, -1, 1.5])("fails when passwordVersion is %d", (passwordVersion) => {
    expect(() => synthAdmin({ passwordVersion })).toThrow(`passwordVersion must be a positive integer, got ${passwordVersion}`);
  });
});
