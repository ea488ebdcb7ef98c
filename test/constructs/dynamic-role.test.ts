import { describe, expect, it } from "vitest";
import { TerraformVariable, type TerraformStack } from "cdktf";
import { Connection } from "../../constructs/connection";
import { DynamicRole, type DynamicRoleProps } from "../../constructs/dynamic-role";
import { connectionBlock, dependency, fixture, onlyResource, ref, synthStack } from "../helpers";

type Options = Partial<Omit<DynamicRoleProps, "baseRoles" | "connection" | "functions">> & {
  /** Names of the base roles to grant, from those created by the fixture. */
  grant?: readonly string[];
  mountPath?: string;
  mountMaxLeaseTtlSeconds?: number;
};

/** A dynamic role `app-db` over base roles `app` and `worker`, granting `app` unless told otherwise. */
function build(stack: TerraformStack, { grant = ["app"], mountPath, mountMaxLeaseTtlSeconds, ...props }: Options = {}) {
  const f = fixture(stack, { roles: [{ name: "app" }, { name: "worker" }], mountPath, mountMaxLeaseTtlSeconds });
  const connection = new Connection(stack, "Connection", {
    mount: f.mount,
    admin: f.admin,
    host: "10.0.0.11",
    port: 5432,
    database: "keybuzz",
  });
  const role = new DynamicRole(stack, "Role", {
    connection,
    functions: f.functions,
    name: "app-db",
    baseRoles: grant.map((name) => f.baseRoles.role(name)),
    ...props,
  });
  return { ...f, connection, role };
}

function synthRole(options: Options = {}) {
  const { json, built } = synthStack((s) => build(s, options));
  return { json, ...built, resource: onlyResource(json, "vault_database_secret_backend_role") };
}

describe("DynamicRole", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthRole();
    expect(json).toMatchSnapshot();
  });

  it("is named as given, on the connection's mount and connection", () => {
    const { resource, mount, connection } = synthRole();

    // the reference to the mount orders the role after it, and so after the connection it holds.
    expect(resource).toMatchObject({
      name: "app-db",
      backend: ref(mount.resource, "path"),
      db_name: connection.connectionName,
    });
  });

  it("creates, renews and drops users only through the credential functions, naming its Vault role", () => {
    const { resource } = synthRole();

    // no identifier in Vault's SQL: the base roles and limits are fixed in the functions, by Vault role.
    expect(resource.creation_statements).toEqual([`SELECT vault_credentials.create_user('{{name}}', '{{password}}', '{{expiration}}', 'app-db');`]);
    expect(resource.renew_statements).toEqual([`SELECT vault_credentials.renew_user('{{name}}', '{{expiration}}');`]);
    expect(resource.revocation_statements).toEqual([`SELECT vault_credentials.drop_user('{{name}}', 'app-db');`]);
  });

  it("registers its base roles, connection limit and max TTL with the functions", () => {
    const { json, role } = synthRole({ grant: ["worker", "app"], connectionLimit: 5, maxTtlSeconds: 7200 });

    const body = Object.values(json.resource.postgresql_function as Record<string, { body: string }>)[0].body;
    expect(body).toContain(`('app-db', 'worker', ARRAY['worker', 'app']::pg_catalog.text[], 5, 7200)`);
    expect(role.baseRole).toBe("worker");
  });

  it("limits each issued user to 20 sessions by default", () => {
    const { json } = synthRole();

    const body = Object.values(json.resource.postgresql_function as Record<string, { body: string }>)[0].body;
    expect(body).toContain(`('app-db', 'app', ARRAY['app']::pg_catalog.text[], 20, 86400)`);
  });

  it.each([0, -1, 2.5])("fails when the connection limit is %d", (connectionLimit) => {
    expect(() => synthRole({ connectionLimit })).toThrow(`connectionLimit must be a positive whole number, got ${connectionLimit}`);
  });

  it("leases for 1h, at most 24h, by default", () => {
    const { resource } = synthRole();

    expect(resource).toMatchObject({ default_ttl: 3600, max_ttl: 86400 });
  });

  it("takes the TTLs", () => {
    const { resource } = synthRole({ defaultTtlSeconds: 900, maxTtlSeconds: 900 });

    expect(resource).toMatchObject({ default_ttl: 900, max_ttl: 900 });
  });

  it("waits for its base roles, every grant that gives them their rights, and the functions", () => {
    const { resource, baseRoles, functions } = synthRole();

    const app = baseRoles.role("app");
    expect(resource.depends_on).toEqual([app.resource, ...app.grants, ...functions.resources].map(dependency));
    expect(resource.depends_on).not.toContain(dependency(baseRoles.role("worker").resource));
  });

  it("joins the connection's allowed_roles", () => {
    const { json, connection } = synthRole();

    expect(connectionBlock(json, "postgres").allowed_roles).toEqual(["app-db"]);
    expect(connection.allowedRoles).toEqual(["app-db"]);
  });

  it("exposes where credentials are read, under the mount path as written", () => {
    const { role } = synthRole({ mountPath: "keybuzz-db" });

    expect(role.credentialsPath).toBe("keybuzz-db/creds/app-db");
    expect(role.roleName).toBe("app-db");
    expect(role.baseRole).toBe("app");
  });

  it("fails when the default TTL exceeds the maximum", () => {
    expect(() => synthRole({ defaultTtlSeconds: 7200, maxTtlSeconds: 3600 })).toThrow(
      "defaultTtlSeconds must not exceed maxTtlSeconds: 7200s > 3600s",
    );
  });

  it("fails when the max TTL exceeds the mount's, which Vault would silently apply instead (as the config refuses it)", () => {
    expect(() => synthRole({ mountMaxLeaseTtlSeconds: 7200 })).toThrow(
      "maxTtlSeconds must not exceed the mount's maxLeaseTtlSeconds: 86400s > 7200s",
    );
    expect(() => synthRole({ mountMaxLeaseTtlSeconds: 7200, defaultTtlSeconds: 600, maxTtlSeconds: 7200 })).not.toThrow();
  });

  it("fails when the default TTL exceeds the default maximum", () => {
    expect(() => synthRole({ defaultTtlSeconds: 86401 })).toThrow("defaultTtlSeconds must not exceed maxTtlSeconds: 86401s > 86400s");
  });

  it.each([
    [0, 3600, "defaultTtlSeconds must be positive whole seconds, got 0"],
    [-60, 3600, "defaultTtlSeconds must be positive whole seconds, got -60"],
    [1.5, 3600, "defaultTtlSeconds must be positive whole seconds, got 1.5"],
    [3600, 0, "maxTtlSeconds must be positive whole seconds, got 0"],
  ])("fails when a TTL is not positive whole seconds (default %d, max %d)", (defaultTtlSeconds, maxTtlSeconds, message) => {
    expect(() => synthRole({ defaultTtlSeconds, maxTtlSeconds })).toThrow(message);
  });

  it("leaves TTLs known only at apply time (tokens) to Vault", () => {
    // GIVEN a TTL from a Terraform variable
    const { json } = synthStack((s) => {
      const ttl = new TerraformVariable(s, "ttl", { type: "number" });
      return build(s, { defaultTtlSeconds: ttl.numberValue });
    });

    // THEN it synthesizes as a reference instead of failing validation
    expect(onlyResource(json, "vault_database_secret_backend_role").default_ttl).toBe("${var.ttl}");
  });

  it.each(["App-db", "app_db", "app-", "database/creds/x"])("fails when the name is %j", (name) => {
    expect(() => synthRole({ name })).toThrow(`name must be a Vault path segment (a-z, 0-9, -), got "${name}"`);
  });

  it("fails when no base role is given", () => {
    expect(() => synthRole({ grant: [] })).toThrow("baseRoles must name at least one base role, got none");
  });

  it("fails when the same Vault role is created twice on a connection", () => {
    expect(() =>
      synthStack((s) => {
        const { connection, baseRoles, functions } = build(s);
        new DynamicRole(s, "Again", { connection, functions, name: "app-db", baseRoles: [baseRoles.role("app")] });
      }),
    ).toThrow('role "app-db" is already attached to connection "postgres"');
  });
});
