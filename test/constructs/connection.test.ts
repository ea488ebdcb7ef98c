import { describe, expect, it } from "vitest";
import { TerraformOutput, type TerraformStack } from "cdktf";
import { Connection, type ConnectionProps } from "../../constructs/connection";
import { DynamicRole } from "../../constructs/dynamic-role";
import type { VaultAdminProps } from "../../constructs/vault-admin";
import { CA_PEM, addProviders, connectionBlock, dependency, fixture, onlyResource, ref, resources, synthStack } from "../helpers";

type Options = Partial<Omit<ConnectionProps, "admin" | "mount">> & { roles?: readonly string[]; admin?: Partial<VaultAdminProps> };

/** A connection to 10.0.0.11:5432/keybuzz with the given Vault roles attached (one by default). */
function build(stack: TerraformStack, { roles = ["app-db"], admin: adminProps, ...props }: Options = {}) {
  const f = fixture(stack, { admin: adminProps });
  const connection = new Connection(stack, "Connection", {
    mount: f.mount,
    admin: f.admin,
    host: "10.0.0.11",
    port: 5432,
    database: "keybuzz",
    ...props,
  });
  for (const role of roles) {
    connection.addRole(role);
    // what a DynamicRole also does: the functions must serve at least one application.
    f.functions.addApplication({ vaultRole: role, baseRoles: [f.baseRoles.role("app")], connectionLimit: 20, maxTtlSeconds: 86400 });
  }
  return { ...f, connection };
}

/** Synthesizes a connection; `resource` is its block in the mount's `postgresql` list, `mountResource` the mount. */
function synthConnection(options: Options = {}) {
  const { json, built } = synthStack((s) => build(s, options));
  return { json, ...built, resource: connectionBlock(json), mountResource: onlyResource(json, "vault_database_secrets_mount") };
}

describe("Connection", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthConnection();
    expect(json).toMatchSnapshot();
  });

  it("is named postgres by default and lives in the mount", () => {
    const { json, mountResource, mount, connection } = synthConnection();

    expect(mountResource.postgresql).toEqual([expect.objectContaining({ name: "postgres" })]);
    expect(mount.connectionNames).toEqual(["postgres"]);
    expect(connection.connectionName).toBe("postgres");
    // a block of the mount, never a resource of its own: the mount goes, leases revoked, with it.
    expect(resources(json, "vault_database_secret_backend_connection")).toEqual([]);
  });

  it("takes another name", () => {
    const { resource } = synthConnection({ name: "pg-main" });

    expect(resource).toMatchObject({ name: "pg-main" });
  });

  it("uses the PostgreSQL plugin", () => {
    const { resource } = synthConnection();

    expect(resource).toMatchObject({ plugin_name: "postgresql-database-plugin" });
  });

  it("builds connection_url from host, port, database and sslmode (verify-full by default)", () => {
    const { resource } = synthConnection();

    expect(resource).toMatchObject({
      connection_url: "postgresql://{{username}}:{{password}}@10.0.0.11:5432/keybuzz?sslmode=verify-full",
    });
  });

  it("puts the given sslmode in connection_url", () => {
    const { resource } = synthConnection({ sslmode: "disable", host: "127.0.0.1", port: 6432, database: "other" });

    expect(resource).toMatchObject({
      connection_url: "postgresql://{{username}}:{{password}}@127.0.0.1:6432/other?sslmode=disable",
    });
  });

  it("trusts the system store by default: no tls_ca", () => {
    const { resource } = synthConnection();

    expect(resource).not.toHaveProperty("tls_ca");
  });

  it.each(["verify-full", "verify-ca"] as const)("writes the CA certificate as tls_ca with sslmode %s", (sslmode) => {
    const { resource } = synthConnection({ sslmode, caCertificate: CA_PEM });

    expect(resource).toMatchObject({
      tls_ca: CA_PEM,
      connection_url: `postgresql://{{username}}:{{password}}@10.0.0.11:5432/keybuzz?sslmode=${sslmode}`,
    });
  });

  it("brackets an IPv6 host", () => {
    const { resource } = synthConnection({ host: "fd00::11" });

    expect(resource).toMatchObject({
      connection_url: "postgresql://{{username}}:{{password}}@[fd00::11]:5432/keybuzz?sslmode=verify-full",
    });
  });

  it("logs in as the admin role", () => {
    const { resource } = synthConnection({ admin: { username: "vault_keybuzz" } });

    expect(resource).toMatchObject({ username: "vault_keybuzz" });
  });

  it("sends the password only through password_wo, with the admin's password version", () => {
    const { resource } = synthConnection({ admin: { passwordVersion: 3 } });

    expect(resource).toMatchObject({ password_wo: "${var.vault_admin_password}", password_wo_version: 3 });
    expect(resource).not.toHaveProperty("password");
  });

  it("allows exactly the dynamic roles created against it, in order", () => {
    // GIVEN
    const { json, built } = synthStack((stack) => {
      const f = build(stack, { roles: [] });
      const roles = ["api-db", "worker-db", "chat-db"].map(
        (name) => new DynamicRole(stack, name, { connection: f.connection, functions: f.functions, name, baseRoles: [f.baseRoles.role("app")] }),
      );
      return { ...f, roles };
    });

    // THEN
    const resource = connectionBlock(json);
    expect(resource.allowed_roles).toEqual(["api-db", "worker-db", "chat-db"]);
    expect(built.connection.allowedRoles).toEqual(["api-db", "worker-db", "chat-db"]);
  });

  it("returns the allowed roles as a copy", () => {
    const { connection } = synthConnection({ roles: ["a-db"] });

    connection.allowedRoles.push("intruder");
    expect(connection.allowedRoles).toEqual(["a-db"]);
  });

  it("verifies the connection and has Vault hash passwords with scram-sha-256", () => {
    const { resource } = synthConnection();

    expect(resource).toMatchObject({ verify_connection: true, password_authentication: "scram-sha-256" });
  });

  it("keeps a pool of 4 open, 4 idle, recycled after 300 seconds by default", () => {
    const { resource } = synthConnection();

    expect(resource).toMatchObject({ max_open_connections: 4, max_idle_connections: 4, max_connection_lifetime: 300 });
  });

  it("takes the pool settings", () => {
    const { resource } = synthConnection({ maxOpenConnections: 20, maxIdleConnections: 0, maxConnectionLifetimeSeconds: 60 });

    expect(resource).toMatchObject({ max_open_connections: 20, max_idle_connections: 0, max_connection_lifetime: 60 });
  });

  it("leaves rotate-root to the plugin's own ALTER ROLE: no root_rotation_statements, which provider 5.6.0 would not send", () => {
    const { resource } = synthConnection();

    expect(resource).not.toHaveProperty("root_rotation_statements");
  });

  it("makes the mount wait for the admin role, its database, its grants and the base roles", () => {
    const { mountResource, admin } = synthConnection();

    expect(mountResource.depends_on).toEqual(admin.dependables.map(dependency));
  });

  it("makes the mount wait for the database and the base roles when the admin is a superuser too", () => {
    const { mountResource, baseRoles } = synthConnection({ admin: { superuser: true } });

    expect(mountResource.depends_on).toEqual(expect.arrayContaining([dependency(baseRoles.database), dependency(baseRoles.role("app").resource)]));
  });

  it("exposes what the mount waits for: everything the admin needs", () => {
    const { connection, admin } = synthConnection();

    expect(connection.dependables).toEqual(admin.dependables);
  });

  it("exposes the mount, and its path as a reference to the mount", () => {
    const { json, built } = synthStack((s) => {
      const b = build(s);
      new TerraformOutput(s, "mount_path", { value: b.connection.mountPath });
      return b;
    });

    expect(built.connection.mount).toBe(built.mount);
    expect(json.output.mount_path.value).toBe(ref(built.mount.resource, "path"));
  });

  it("fails validation when no dynamic role is attached", () => {
    const withProviders = (s: TerraformStack) => {
      addProviders(s);
      return build(s, { roles: [] });
    };

    expect(() => synthStack(withProviders, { runValidations: true })).toThrow(
      'connection "postgres" has no dynamic role: allowed_roles would be empty',
    );
  });

  it("passes validation with a role attached", () => {
    const withProviders = (s: TerraformStack) => {
      addProviders(s);
      return build(s);
    };

    expect(() => synthStack(withProviders, { runValidations: true })).not.toThrow();
  });

  it("fails when the mount already holds a connection of that name", () => {
    expect(() =>
      synthStack((s) => {
        const { mount, admin } = build(s);
        return new Connection(s, "Other", { mount, admin, host: "10.0.0.12", port: 5432, database: "keybuzz" });
      }),
    ).toThrow('connection "postgres" is already in mount "database"');
  });

  it("fails when a role is attached twice", () => {
    expect(() => synthConnection({ roles: ["app-db", "app-db"] })).toThrow('role "app-db" is already attached to connection "postgres"');
  });

  it.each(["Keybuzz", "keybuzz_postgres", "-pg", "pg/main"])("fails when the name is %j", (name) => {
    expect(() => synthConnection({ name })).toThrow(`name must be a Vault path segment, got "${name}"`);
  });

  it.each(["", "db host", "db/1", "user@db", "db?x"])("fails when the host is %j", (host) => {
    expect(() => synthConnection({ host })).toThrow(`host must be a host name or address, got "${host}"`);
  });

  it.each([0, 65536, 5432.5])("fails when the port is %d", (port) => {
    expect(() => synthConnection({ port })).toThrow(`port must be between 1 and 65535, got ${port}`);
  });

  it.each(["disable", "allow", "prefer", "require"] as const)(
    "fails when a CA certificate comes with sslmode %s, which would not check the server",
    (sslmode) => {
      expect(() => synthConnection({ sslmode, caCertificate: CA_PEM })).toThrow(
        `caCertificate is used only with sslmode "verify-full" or "verify-ca"; with sslmode "${sslmode}" nothing would check the server against it`,
      );
    },
  );

  it("fails when the CA certificate is not PEM", () => {
    expect(() => synthConnection({ caCertificate: "MIIBdummy\nmore" })).toThrow(
      'caCertificate must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), got "MIIBdummy"',
    );
  });

  it("fails when the CA certificate comes with a private key", () => {
    const bundle = `${CA_PEM}-----BEGIN PRIVATE KEY-----\nTUlJ\n-----END PRIVATE KEY-----\n`;

    expect(() => synthConnection({ caCertificate: bundle })).toThrow("caCertificate must not hold a private key");
  });

  it("fails when more idle than open connections are kept", () => {
    expect(() => synthConnection({ maxOpenConnections: 2, maxIdleConnections: 3 })).toThrow(
      "maxIdleConnections must not exceed maxOpenConnections (2), got 3",
    );
  });
});
