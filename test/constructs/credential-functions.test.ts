import { describe, expect, it } from "vitest";
import type { TerraformStack } from "cdktf";
import { BaseRoles } from "../../constructs/base-roles";
import { CredentialFunctions, type CredentialFunctionsProps, issuedUserTable, withoutIssuedUserTable } from "../../constructs/credential-functions";
import { dependency, ref, resources, synthStack } from "../helpers";

function build(stack: TerraformStack, props: Partial<CredentialFunctionsProps> = {}) {
  const baseRoles = new BaseRoles(stack, "BaseRoles", { roles: [{ name: "app" }, { name: "user" }], databaseName: "keybuzz" });
  const functions = new CredentialFunctions(stack, "CredentialFunctions", { baseRoles, ...props });
  const statements = functions.addApplication({
    vaultRole: "app-db",
    baseRoles: [baseRoles.role("app"), baseRoles.role("user")],
    connectionLimit: 7,
    maxTtlSeconds: 3600,
  });
  return { baseRoles, functions, statements };
}

function synthFunctions(props: Partial<CredentialFunctionsProps> = {}) {
  const { json, built } = synthStack((s) => build(s, props));
  const byName = Object.fromEntries(resources(json, "postgresql_function").map((f) => [f.name as string, f]));
  return { json, byName, ...built };
}

describe("issuedUserTable", () => {
  it("reads back the table the functions were written with, in every one of the three, quotes included", () => {
    // GIVEN two applications, one with a quote in its Vault role's name and two base roles.
    const { json } = synthStack((s) => {
      const baseRoles = new BaseRoles(s, "BaseRoles", { roles: [{ name: "app" }, { name: "user" }], databaseName: "keybuzz" });
      const functions = new CredentialFunctions(s, "CredentialFunctions", { baseRoles });
      functions.addApplication({
        vaultRole: "app-db",
        baseRoles: [baseRoles.role("app"), baseRoles.role("user")],
        connectionLimit: 7,
        maxTtlSeconds: 3600,
      });
      functions.addApplication({ vaultRole: "o'brien", baseRoles: [baseRoles.role("user")], connectionLimit: 1, maxTtlSeconds: 60 });
    });
    // WHEN each function's SQL is read back
    for (const fn of resources(json, "postgresql_function")) {
      // THEN it holds exactly what was written
      expect(issuedUserTable(String(fn.body))).toEqual(
        new Map([
          ["app-db", { roles: ["app", "user"], connectionLimit: 7, maxTtlSeconds: 3600 }],
          ["o'brien", { roles: ["user"], connectionLimit: 1, maxTtlSeconds: 60 }],
        ]),
      );
    }
  });

  it("finds nothing in text the construct did not write, and strips only the table", () => {
    expect(issuedUserTable("SELECT 1")).toEqual(new Map());
    const { byName } = synthFunctions();
    const body = String(byName.create_user.body);
    const rowless = withoutIssuedUserTable(body);
    expect(rowless).toContain("(VALUES) AS app(");
    expect(rowless).not.toContain("'app-db'");
    expect(issuedUserTable(rowless)).toEqual(new Map());
    // the rest of the body is untouched.
    expect(rowless.split("(VALUES) AS app(")[0]).toBe(body.split("(VALUES\n")[0]);
  });
});

describe("CredentialFunctions", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthFunctions();
    expect(json).toMatchSnapshot();
  });

  it("creates create_user, renew_user and drop_user, SECURITY DEFINER plpgsql, in their own schema", () => {
    const { byName, functions, baseRoles } = synthFunctions();

    expect(Object.keys(byName).sort()).toEqual(["create_user", "drop_user", "renew_user"]);
    for (const f of Object.values(byName)) {
      expect(f).toMatchObject({
        schema: ref(functions.schema),
        database: ref(baseRoles.database),
        language: "plpgsql",
        security_definer: true,
        returns: "void",
      });
    }
    expect(byName.create_user.arg).toEqual(["p_name", "p_password", "p_valid_until", "p_vault_role"].map((name) => ({ name, type: "text" })));
  });

  it("gives Vault statements that pass no identifier, only the Vault role's name as a literal", () => {
    const { statements } = synthFunctions();

    expect(statements).toEqual({
      creation: [`SELECT vault_credentials.create_user('{{name}}', '{{password}}', '{{expiration}}', 'app-db');`],
      renew: [`SELECT vault_credentials.renew_user('{{name}}', '{{expiration}}');`],
      revocation: [`SELECT vault_credentials.drop_user('{{name}}', 'app-db');`],
    });
  });

  it("pins search_path first and builds every statement with format('%I') and format('%L')", () => {
    const { byName } = synthFunctions();

    for (const f of Object.values(byName)) {
      const body = String(f.body);
      const firstStatement = body
        .split("BEGIN\n")[1]
        .split("\n")
        .find((l) => !l.trim().startsWith("--"));
      expect(firstStatement).toBe("  PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);");
      // every dynamic statement goes through format(); arguments are never concatenated into SQL.
      for (const line of body.split("\n").filter((l) => l.includes("EXECUTE "))) expect(line).toContain("pg_catalog.format(");
      expect(body).not.toMatch(/\|\|\s*p_/);
      expect(body).not.toContain("$");
    }
  });

  it("fixes each Vault role's base roles, connection limit and max TTL in one row", () => {
    const { byName } = synthFunctions();

    for (const f of Object.values(byName)) {
      expect(String(f.body)).toContain(`('app-db', 'app', ARRAY['app', 'user']::pg_catalog.text[], 7, 3600)`);
    }
  });

  it("revokes the drop's membership and sessions before the part that may fail, and ends sessions again after it", () => {
    const body = String(synthFunctions().byName.drop_user.body);

    // after the early return for a user that is already gone.
    const at = (s: string) => body.indexOf(s, body.indexOf("NOLOGIN"));
    expect(at("NOLOGIN")).toBeLessThan(at("REVOKE %I FROM %I"));
    expect(at("REVOKE %I FROM %I")).toBeLessThan(at("pg_terminate_backend"));
    expect(at("pg_terminate_backend")).toBeLessThan(at("EXCEPTION WHEN OTHERS"));
    expect(body.lastIndexOf("pg_terminate_backend")).toBeGreaterThan(at("EXCEPTION WHEN OTHERS"));
  });

  it("revokes PUBLIC's EXECUTE on the functions, after they exist", () => {
    const { json, functions } = synthFunctions();

    const revoke = resources(json, "postgresql_grant").find((g) => g.role === "public" && g.object_type === "function");
    expect(revoke).toMatchObject({ schema: ref(functions.schema), privileges: [] });
    expect(revoke?.depends_on).toEqual(Object.values(functions.functions).map(dependency));
  });

  it("takes another schema name", () => {
    const { json, statements } = synthFunctions({ schemaName: "vault_functions" });

    expect(resources(json, "postgresql_schema").map((s) => s.name)).toContain("vault_functions");
    expect(statements.renew).toEqual([`SELECT vault_functions.renew_user('{{name}}', '{{expiration}}');`]);
  });

  it.each(["Bad", "pg_vault", "a;b"])("fails when the schema name is %j", (schemaName) => {
    expect(() => synthFunctions({ schemaName })).toThrow(`schemaName must be a lower-case PostgreSQL identifier, got "${schemaName}"`);
  });

  it("fails when a Vault role is registered twice", () => {
    expect(() =>
      synthStack((s) => {
        const { functions, baseRoles } = build(s);
        functions.addApplication({ vaultRole: "app-db", baseRoles: [baseRoles.role("app")], connectionLimit: 1, maxTtlSeconds: 60 });
      }),
    ).toThrow('Vault role "app-db" is already registered');
  });

  it("fails validation when no application uses it", () => {
    expect(() =>
      synthStack(
        (s) =>
          new CredentialFunctions(s, "CredentialFunctions", {
            baseRoles: new BaseRoles(s, "BaseRoles", { roles: [{ name: "app" }], databaseName: "keybuzz" }),
          }),
        { runValidations: true },
      ),
    ).toThrow("no application uses the credential functions: add a DynamicRole");
  });
});
