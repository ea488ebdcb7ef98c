import { describe, expect, it } from "vitest";
import { TerraformOutput, type TerraformStack } from "cdktf";
import { Role } from "@cdktf/provider-postgresql/lib/role";
import { SecretsMount, type SecretsMountProps } from "../../constructs/secrets-mount";
import { addProviders, dependency, onlyResource, ref, synthStack } from "../helpers";

const MOUNT = "vault_database_secrets_mount";

function synthMount(props?: SecretsMountProps) {
  const { json, built } = synthStack((s) => new SecretsMount(s, "Mount", props));
  return { json, mount: built, resource: onlyResource(json, MOUNT) };
}

/** A connection block as a Connection writes it, reduced to what the mount itself looks at. */
function block(name: string) {
  return { name, pluginName: "postgresql-database-plugin", connectionUrl: `postgresql://{{username}}:{{password}}@10.0.0.11:5432/${name}` };
}

/** A mount with the providers, for validation, and the given connection names added. */
function validatedMount(stack: TerraformStack, connections: readonly string[]) {
  addProviders(stack);
  const mount = new SecretsMount(stack, "Mount");
  for (const name of connections) mount.addPostgresqlConnection(block(name));
  return mount;
}

describe("SecretsMount", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthMount();
    expect(json).toMatchSnapshot();
  });

  it("mounts the database secrets engine at database with 1h/24h leases by default", () => {
    const { resource } = synthMount();

    expect(resource).toEqual({
      path: "database",
      description: "Dynamic PostgreSQL credentials",
      default_lease_ttl_seconds: 3600,
      max_lease_ttl_seconds: 86400,
    });
  });

  it("mounts at the configured path with the configured leases", () => {
    const { resource } = synthMount({ path: "keybuzz/db", defaultLeaseTtlSeconds: 900, maxLeaseTtlSeconds: 7200 });

    expect(resource).toMatchObject({
      path: "keybuzz/db",
      default_lease_ttl_seconds: 900,
      max_lease_ttl_seconds: 7200,
    });
  });

  it("takes a description", () => {
    const { resource } = synthMount({ description: "test mount" });

    expect(resource).toMatchObject({ description: "test mount" });
  });

  it("exposes the path as written and as a reference to the mount", () => {
    const { json, built: mount } = synthStack((s) => {
      const m = new SecretsMount(s, "Mount", { path: "db" });
      new TerraformOutput(s, "mount_path", { value: m.mountPath });
      return m;
    });

    expect(mount.path).toBe("db");
    expect(json.output.mount_path.value).toBe(ref(mount.resource, "path"));
  });

  it("holds each connection added as a block of its postgresql list, in the order added", () => {
    const { json, built: mount } = synthStack((s) => {
      const m = new SecretsMount(s, "Mount");
      m.addPostgresqlConnection(block("pg-main"));
      m.addPostgresqlConnection(block("pg-replica"));
      return m;
    });

    expect(onlyResource(json, MOUNT).postgresql).toEqual([
      { name: "pg-main", plugin_name: "postgresql-database-plugin", connection_url: "postgresql://{{username}}:{{password}}@10.0.0.11:5432/pg-main" },
      {
        name: "pg-replica",
        plugin_name: "postgresql-database-plugin",
        connection_url: "postgresql://{{username}}:{{password}}@10.0.0.11:5432/pg-replica",
      },
    ]);
    expect(mount.connectionNames).toEqual(["pg-main", "pg-replica"]);
  });

  it("has no connection block and depends on nothing before a connection is added", () => {
    const { resource, mount } = synthMount();

    expect(resource).not.toHaveProperty("postgresql");
    expect(resource).not.toHaveProperty("depends_on");
    expect(mount.connectionNames).toEqual([]);
  });

  it("waits for what its connections depend on, each resource once, so that they outlive it on destroy", () => {
    // GIVEN
    const { json, built } = synthStack((s) => {
      const [admin, database, grant] = ["admin", "database", "grant"].map((name) => new Role(s, name, { name }));
      const m = new SecretsMount(s, "Mount");

      // WHEN
      m.addPostgresqlConnection(block("pg-main"), [admin, database]);
      m.addPostgresqlConnection(block("pg-replica"), [database, grant]);
      return { admin, database, grant };
    });

    // THEN
    expect(onlyResource(json, MOUNT).depends_on).toEqual([built.admin, built.database, built.grant].map(dependency));
  });

  it("waits for what else revocation needs (waitFor), each resource once, after its connections' own", () => {
    const { json, built } = synthStack((s) => {
      const [admin, auditRole] = ["admin", "audit"].map((name) => new Role(s, name, { name }));
      const m = new SecretsMount(s, "Mount");
      m.addPostgresqlConnection(block("pg-main"), [admin]);
      m.waitFor([auditRole, admin, auditRole]);
      return { admin, auditRole };
    });

    expect(onlyResource(json, MOUNT).depends_on).toEqual([built.admin, built.auditRole].map(dependency));
  });

  it("returns the connection names as a copy", () => {
    const { built: mount } = synthStack((s) => {
      const m = new SecretsMount(s, "Mount");
      m.addPostgresqlConnection(block("pg-main"));
      return m;
    });

    mount.connectionNames.push("intruder");
    expect(mount.connectionNames).toEqual(["pg-main"]);
  });

  it("fails validation when no connection is in it", () => {
    expect(() => synthStack((s) => validatedMount(s, []), { runValidations: true })).toThrow(
      'mount "database" has no connection: nothing could issue credentials',
    );
  });

  it("passes validation with a connection in it", () => {
    expect(() => synthStack((s) => validatedMount(s, ["pg-main"]), { runValidations: true })).not.toThrow();
  });

  it("fails when a connection of the same name is added twice", () => {
    expect(() => synthStack((s) => validatedMount(s, ["pg-main", "pg-main"]))).toThrow('connection "pg-main" is already in mount "database"');
  });

  it.each(["/database", "database/", "Database", "data base", "a//b", ""])("fails when the path is %j", (path) => {
    expect(() => synthMount({ path })).toThrow(`path must be a Vault path without leading or trailing slash, got "${path}"`);
  });

  it.each([
    [0, 86400],
    [-1, 86400],
    [3600, 0],
  ])("fails when a lease TTL is not positive (default %d, max %d)", (defaultLeaseTtlSeconds, maxLeaseTtlSeconds) => {
    expect(() => synthMount({ defaultLeaseTtlSeconds, maxLeaseTtlSeconds })).toThrow(
      `lease TTLs must be positive, got default ${defaultLeaseTtlSeconds}s, max ${maxLeaseTtlSeconds}s`,
    );
  });

  it("fails when the default lease exceeds the maximum", () => {
    expect(() => synthMount({ defaultLeaseTtlSeconds: 7200, maxLeaseTtlSeconds: 3600 })).toThrow(
      "defaultLeaseTtlSeconds must not exceed maxLeaseTtlSeconds: 7200s > 3600s",
    );
  });
});
