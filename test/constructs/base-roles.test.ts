import { describe, expect, it } from "vitest";
import { BaseRoles, type BaseRoleOptions } from "../../constructs/base-roles";
import { dependency, onlyResource, ref, resources, synthStack } from "../helpers";

function synthRoles(roles: readonly BaseRoleOptions[], databaseName = "keybuzz", protectData?: boolean) {
  const { json, built } = synthStack((stack) => new BaseRoles(stack, "BaseRoles", { roles, databaseName, protectData }));
  return { json, baseRoles: built };
}

describe("BaseRoles", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthRoles([{ name: "app" }]);
    expect(json).toMatchSnapshot();
  });

  it("creates the database, keybuzz by default", () => {
    const { json, baseRoles } = synthRoles([{ name: "app" }]);

    expect(onlyResource(json, "postgresql_database")).toEqual({
      name: "keybuzz",
      lifecycle: { prevent_destroy: true },
      depends_on: [dependency(baseRoles.role("app").resource)],
    });
    expect(baseRoles.databaseName).toBe("keybuzz");
  });

  it("drops the database before the roles: it takes with it what would keep a role from being dropped", () => {
    const { json, baseRoles } = synthRoles([{ name: "api" }, { name: "worker" }]);

    expect(onlyResource(json, "postgresql_database").depends_on).toEqual(baseRoles.allRoles.map((r) => dependency(r.resource)));
    for (const role of resources(json, "postgresql_role")) expect(role).not.toHaveProperty("depends_on");
  });

  it("creates the database under the given name", () => {
    const { json } = synthRoles([{ name: "app" }], "other_db");

    expect(onlyResource(json, "postgresql_database")).toMatchObject({ name: "other_db" });
  });

  it("creates every base role NOLOGIN", () => {
    // WHEN
    const { json } = synthRoles([{ name: "app" }, { name: "worker" }]);

    // THEN
    const roles = resources(json, "postgresql_role");
    expect(roles).toHaveLength(2);
    expect(roles).toContainEqual(expect.objectContaining({ name: "app", login: false }));
    expect(roles).toContainEqual(expect.objectContaining({ name: "worker", login: false }));
    for (const role of roles) {
      expect(role).not.toHaveProperty("superuser", true);
      expect(role).not.toHaveProperty("create_role", true);
    }
  });

  it("revokes PUBLIC's privileges on the database", () => {
    const { json, baseRoles } = synthRoles([{ name: "app" }]);

    expect(resources(json, "postgresql_grant")).toContainEqual({
      database: ref(baseRoles.database),
      role: "public",
      object_type: "database",
      privileges: [],
    });
  });

  it("grants CONNECT on the database to each base role", () => {
    const { json, baseRoles } = synthRoles([{ name: "app" }, { name: "worker" }]);

    const grants = resources(json, "postgresql_grant");
    for (const name of ["app", "worker"]) {
      expect(grants).toContainEqual({
        database: ref(baseRoles.database),
        role: ref(baseRoles.role(name).resource),
        object_type: "database",
        privileges: ["CONNECT"],
      });
    }
  });

  it("creates a schema named after each role and owned by it by default", () => {
    const { json, baseRoles } = synthRoles([{ name: "app" }]);

    expect(onlyResource(json, "postgresql_schema")).toEqual({
      name: "app",
      database: ref(baseRoles.database),
      owner: ref(baseRoles.role("app").resource),
      drop_cascade: false,
      lifecycle: { prevent_destroy: true },
    });
  });

  it("protects the database and every owned schema from destroy by default", () => {
    // GIVEN
    const roles = [{ name: "app", schemas: { app: { owned: true }, app_audit: { owned: true } } }];

    // WHEN
    const { json, baseRoles } = synthRoles(roles);

    // THEN
    expect(baseRoles.protectData).toBe(true);
    expect(onlyResource(json, "postgresql_database").lifecycle).toEqual({ prevent_destroy: true });
    const schemas = resources(json, "postgresql_schema");
    expect(schemas).toHaveLength(2);
    for (const schema of schemas) expect(schema.lifecycle).toEqual({ prevent_destroy: true });
  });

  it("drops owned schemas RESTRICT by default, never CASCADE", () => {
    const { json } = synthRoles([{ name: "app", schemas: { app: { owned: true }, app_audit: { owned: true } } }]);

    expect(resources(json, "postgresql_schema").map((s) => s.drop_cascade)).toEqual([false, false]);
  });

  it("lets the database and the owned schemas be destroyed when protectData is false", () => {
    // GIVEN
    const roles = [{ name: "app", schemas: { app: { owned: true }, app_audit: { owned: true } } }];

    // WHEN
    const { json, baseRoles } = synthRoles(roles, undefined, false);

    // THEN
    expect(baseRoles.protectData).toBe(false);
    expect(onlyResource(json, "postgresql_database").lifecycle).toEqual({ prevent_destroy: false });
    for (const schema of resources(json, "postgresql_schema")) expect(schema.lifecycle).toEqual({ prevent_destroy: false });
  });

  it("drops owned schemas CASCADE when protectData is false", () => {
    const { json } = synthRoles([{ name: "app", schemas: { app: { owned: true }, app_audit: { owned: true } } }], undefined, false);

    expect(resources(json, "postgresql_schema").map((s) => s.drop_cascade)).toEqual([true, true]);
  });

  it.each([true, false])("leaves grants on a schema it does not own without lifecycle or drop_cascade (protectData %s)", (protectData) => {
    const { json } = synthRoles([{ name: "app", schemas: { shared: { tables: ["SELECT"] } } }], undefined, protectData);

    expect(resources(json, "postgresql_schema")).toEqual([]);
    const onShared = resources(json, "postgresql_grant").filter((g) => g.schema === "shared");
    expect(onShared).toHaveLength(2);
    for (const grant of onShared) {
      expect(grant).not.toHaveProperty("lifecycle");
      expect(grant).not.toHaveProperty("drop_cascade");
    }
  });

  it("makes the base role the owner of the schemas it owns", () => {
    // GIVEN
    const roles = [{ name: "app", schemas: { app: { owned: true }, app_audit: { owned: true } } }];

    // WHEN
    const { json, baseRoles } = synthRoles(roles);

    // THEN
    const schemas = resources(json, "postgresql_schema");
    expect(schemas).toHaveLength(2);
    for (const name of ["app", "app_audit"]) {
      expect(schemas).toContainEqual(expect.objectContaining({ name, owner: ref(baseRoles.role("app").resource) }));
    }
  });

  it("grants USAGE only on a schema it does not own, by default", () => {
    const { json } = synthRoles([{ name: "app", schemas: { shared: {} } }]);

    expect(resources(json, "postgresql_schema")).toEqual([]);
    expect(resources(json, "postgresql_grant")).toContainEqual(
      expect.objectContaining({ object_type: "schema", schema: "shared", privileges: ["USAGE"] }),
    );
  });

  it("grants CREATE, table and sequence privileges on a schema it does not own", () => {
    // GIVEN
    const access = { usage: true, create: true, tables: ["SELECT", "INSERT"], sequences: ["USAGE"] } as const;

    // WHEN
    const { json, baseRoles } = synthRoles([{ name: "app", schemas: { shared: access } }]);

    // THEN
    const on = { database: ref(baseRoles.database), role: ref(baseRoles.role("app").resource), schema: "shared" };
    const grants = resources(json, "postgresql_grant");
    expect(grants).toContainEqual({ ...on, object_type: "schema", privileges: ["USAGE", "CREATE"] });
    expect(grants).toContainEqual({ ...on, object_type: "table", privileges: ["SELECT", "INSERT"] });
    expect(grants).toContainEqual({ ...on, object_type: "sequence", privileges: ["USAGE"] });
  });

  it("refers to a schema owned by another base role through its resource, so the grant waits for it", () => {
    // GIVEN
    const roles = [{ name: "worker", schemas: { api: { tables: ["SELECT"] as const } } }, { name: "api" }];

    // WHEN
    const { json, baseRoles } = synthRoles(roles);

    // THEN
    const apiSchema = resources(json, "postgresql_schema").find((s) => s.name === "api");
    expect(apiSchema).toMatchObject({ owner: ref(baseRoles.role("api").resource) });
    expect(resources(json, "postgresql_grant")).toContainEqual(
      expect.objectContaining({
        role: ref(baseRoles.role("worker").resource),
        object_type: "table",
        schema: expect.stringMatching(/^\$\{postgresql_schema\..+\.name\}$/),
      }),
    );
  });

  it("grants default privileges on the owner role's future objects", () => {
    // GIVEN
    const roles = [
      { name: "api" },
      { name: "worker", defaultPrivileges: [{ owner: "api", schema: "api", tables: ["SELECT"] as const, sequences: ["USAGE"] as const }] },
    ];

    // WHEN
    const { json, baseRoles } = synthRoles(roles);

    // THEN
    const on = {
      database: ref(baseRoles.database),
      role: ref(baseRoles.role("worker").resource),
      owner: ref(baseRoles.role("api").resource),
    };
    const defaults = resources(json, "postgresql_default_privileges").filter((d) => d.role !== "public");
    expect(defaults).toHaveLength(2);
    expect(defaults).toContainEqual(expect.objectContaining({ ...on, object_type: "table", privileges: ["SELECT"] }));
    expect(defaults).toContainEqual(expect.objectContaining({ ...on, object_type: "sequence", privileges: ["USAGE"] }));
  });

  it("lists every resource that gives a role its rights, for dynamic roles to depend on", () => {
    const { baseRoles } = synthRoles([{ name: "app", schemas: { app: { owned: true }, shared: { tables: ["SELECT"] } } }]);

    const grants = baseRoles.role("app").grants.map(dependency);
    expect(grants).toHaveLength(5);
    expect(grants).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^postgresql_grant\..*Connect/),
        expect.stringMatching(/^postgresql_default_privileges\..*RevokePublicExecute/),
        expect.stringMatching(/^postgresql_schema\./),
        expect.stringMatching(/^postgresql_grant\..*shared_Schema/),
        expect.stringMatching(/^postgresql_grant\..*shared_Tables/),
      ]),
    );
  });

  it("revokes PUBLIC's EXECUTE on the functions each base role creates, in every schema", () => {
    const { json, baseRoles } = synthRoles([{ name: "api" }, { name: "worker" }]);

    const revoked = resources(json, "postgresql_default_privileges").filter((d) => d.role === "public");
    expect(revoked).toEqual(
      ["api", "worker"].map((name) => ({
        database: ref(baseRoles.database),
        role: "public",
        owner: ref(baseRoles.role(name).resource),
        object_type: "function",
        privileges: [],
      })),
    );
  });

  it("closes postgres and template1 to PUBLIC by default, and the databases given otherwise", () => {
    const closed = (json: ReturnType<typeof synthRoles>["json"]) =>
      resources(json, "postgresql_grant").filter((g) => g.role === "public" && g.database !== ref(baseRoles.database));
    const { json, baseRoles } = synthRoles([{ name: "app" }]);
    expect(closed(json)).toEqual(
      ["postgres", "template1"].map((database) => ({ database, role: "public", object_type: "database", privileges: [] })),
    );
    expect(baseRoles.closedDatabases).toHaveLength(2);

    const other = synthStack((s) => new BaseRoles(s, "BaseRoles", { roles: [{ name: "app" }], databaseName: "keybuzz", closeDatabases: ["legacy"] }));
    expect(resources(other.json, "postgresql_grant").filter((g) => g.database === "legacy")).toHaveLength(1);
    expect(resources(other.json, "postgresql_grant").filter((g) => g.database === "postgres")).toHaveLength(0);
  });

  it.each([
    [["keybuzz"], 'closeDatabases[0] must not name the application database (databaseName "keybuzz"), which issued users log in to'],
    [["Bad-Name"], 'closeDatabases must hold database names, got "Bad-Name"'],
  ])("fails when closeDatabases is %j", (closeDatabases, message) => {
    expect(() => synthStack((s) => new BaseRoles(s, "BaseRoles", { roles: [{ name: "app" }], databaseName: "keybuzz", closeDatabases }))).toThrow(
      message,
    );
  });

  it("scopes each role's resources under its name, so the IDs do not depend on the order", () => {
    const { baseRoles } = synthRoles([{ name: "app" }]);

    expect(baseRoles.role("app").resource.node.path).toBe("stack/BaseRoles/Roles/app/Resource");
  });

  it("returns every role in the order given, as a copy", () => {
    const { baseRoles } = synthRoles([{ name: "worker" }, { name: "app" }]);

    const all = baseRoles.allRoles;
    all.pop();
    expect(baseRoles.allRoles.map((r) => r.name)).toEqual(["worker", "app"]);
  });

  it("fails when asked for an unknown role, listing the known ones", () => {
    const { baseRoles } = synthRoles([{ name: "app" }, { name: "worker" }]);

    expect(() => baseRoles.role("nobody")).toThrow('unknown base role "nobody"; known: app, worker');
  });

  it("fails when no role is given", () => {
    expect(() => synthRoles([])).toThrow("roles must name at least one base role, got none");
  });

  it.each([
    ["a quote", 'app"; DROP ROLE x; --'],
    ["a space", "my app"],
    ["upper case", "App"],
    ["a leading digit", "1app"],
    ["the pg_ prefix", "pg_app"],
    ["more than 63 bytes", "a".repeat(64)],
  ])("fails when a role name has %s", (_, name) => {
    expect(() => synthRoles([{ name }])).toThrow(`role name must be a lower-case PostgreSQL identifier of at most 63 bytes, got "${name}"`);
  });

  it("fails when the database name is not a safe identifier", () => {
    expect(() => synthRoles([{ name: "app" }], "Key-Buzz")).toThrow(
      'databaseName must be a lower-case PostgreSQL identifier of at most 63 bytes, got "Key-Buzz"',
    );
  });

  it("fails when a role is defined twice", () => {
    expect(() => synthRoles([{ name: "app" }, { name: "app" }])).toThrow('base role "app" is defined twice');
  });

  it("fails when two roles own the same schema", () => {
    const roles = [
      { name: "app", schemas: { shared: { owned: true } } },
      { name: "worker", schemas: { shared: { owned: true } } },
    ];

    expect(() => synthRoles(roles)).toThrow('schema "shared" is owned by two base roles');
  });

  it("fails when a schema name is not a safe identifier", () => {
    expect(() => synthRoles([{ name: "app", schemas: { "bad;schema": {} } }])).toThrow(
      'schema name must be a lower-case PostgreSQL identifier of at most 63 bytes, got "bad;schema"',
    );
  });

  it("fails when default privileges name an unknown owner", () => {
    const roles = [{ name: "app", defaultPrivileges: [{ owner: "nobody", schema: "app", tables: ["SELECT"] as const }] }];

    expect(() => synthRoles(roles)).toThrow('unknown base role "nobody"; known: app');
  });

  it("fails when default privileges name an unsafe schema", () => {
    const roles = [{ name: "app", defaultPrivileges: [{ owner: "app", schema: "Public", tables: ["SELECT"] as const }] }];

    expect(() => synthRoles(roles)).toThrow('default privileges schema must be a lower-case PostgreSQL identifier of at most 63 bytes, got "Public"');
  });
});
