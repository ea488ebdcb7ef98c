import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AGENT_CONFIG_DEFAULTS } from "../../../constructs/agent-config";
import { APPROLE_AUTH_DEFAULTS } from "../../../constructs/approle-auth";
import { BASE_ROLES_DEFAULTS } from "../../../constructs/base-roles";
import { CONNECTION_DEFAULTS } from "../../../constructs/connection";
import { DYNAMIC_ROLE_DEFAULTS } from "../../../constructs/dynamic-role";
import { KUBERNETES_AUTH_DEFAULTS } from "../../../constructs/kubernetes-auth";
import { KUBERNETES_WORKLOAD_DEFAULTS } from "../../../constructs/kubernetes-workload";
import { SECRETS_MOUNT_DEFAULTS } from "../../../constructs/secrets-mount";
import { VAULT_ADMIN_DEFAULTS } from "../../../constructs/vault-admin";
import { KEYBUZZ_DEFAULTS } from "../../../stacks/keybuzz-names";
import { ROOT } from "../../helpers";
import { loadEnvironments, parseEnvironment } from "../../../stacks/environment";
import { RULES } from "./cases/schema";
import { CONFIG_DIR, changed, DEV, PROD, problem, problemsOf } from "./fixture";

describe("parseEnvironment", () => {
  it.each(RULES)("rejects $rule, naming the file, the field and the value", ({ change, field, says, got }) => {
    // WHEN
    const problems = problemsOf("dev", "config/dev.json", changed(DEV, change));

    // THEN
    expect(problems).toContainEqual(problem("config/dev.json", field, says, got));
  });

  it("fills in every default", () => {
    // GIVEN
    const minimal = JSON.stringify({
      vault: { address: "http://127.0.0.1:8200" },
      postgres: { host: "127.0.0.1", port: 5432 },
      applications: [{ name: "app", baseRole: "app", vaultRole: "app-db" }],
    });

    // WHEN
    const env = parseEnvironment("local", "config/local.json", minimal);

    // THEN
    expect(env).toMatchObject({
      name: "local",
      file: "config/local.json",
      vault: { mountPath: "database", defaultLeaseTtl: 3600, maxLeaseTtl: 86400 },
      postgres: { database: "keybuzz", sslmode: "verify-full", adminUsername: "postgres", protectData: true },
      vaultAdmin: { username: "vault_admin", superuser: false, acknowledgeSuperuserInProd: false, passwordVersion: 1 },
      connection: { name: "keybuzz-postgres", maxOpenConnections: 4, maxIdleConnections: 4, maxConnectionLifetime: 300 },
      backend: { type: "local" },
      auth: {},
      applications: [
        { name: "app", baseRole: "app", vaultRole: "app-db", defaultTtl: 3600, maxTtl: 86400, additionalBaseRoles: [], defaultPrivileges: [] },
      ],
    });
    expect(env.applications[0].schemas).toBeUndefined();
  });

  it("takes each default from the construct that owns the field, or from KeyBuzz's names where KeyBuzz's differ", () => {
    const env = parseEnvironment(
      "local",
      "config/local.json",
      JSON.stringify({
        vault: { address: "http://127.0.0.1:8200" },
        postgres: { host: "127.0.0.1", port: 5432 },
        auth: {
          approle: { bindings: [{ application: "app" }] },
          kubernetes: { host: "https://127.0.0.1:6443", bindings: [{ application: "app", serviceAccounts: ["app"], namespaces: ["app"] }] },
        },
        applications: [{ name: "app", baseRole: "app", vaultRole: "app-db", schemas: { other: { tables: ["SELECT"] } } }],
      }),
    );
    const [app] = env.applications;
    expect([env.vault.mountPath, env.vault.defaultLeaseTtl, env.vault.maxLeaseTtl]).toEqual([
      SECRETS_MOUNT_DEFAULTS.path,
      SECRETS_MOUNT_DEFAULTS.defaultLeaseTtlSeconds,
      SECRETS_MOUNT_DEFAULTS.maxLeaseTtlSeconds,
    ]);
    expect([app.defaultTtl, app.maxTtl, app.connectionLimit]).toEqual([
      DYNAMIC_ROLE_DEFAULTS.defaultTtlSeconds,
      DYNAMIC_ROLE_DEFAULTS.maxTtlSeconds,
      DYNAMIC_ROLE_DEFAULTS.connectionLimit,
    ]);
    expect(app.schemas?.other.usage).toBe(BASE_ROLES_DEFAULTS.schemaUsage);
    expect([env.postgres.closeDatabases, env.postgres.protectData]).toEqual([BASE_ROLES_DEFAULTS.closeDatabases, BASE_ROLES_DEFAULTS.protectData]);
    expect(env.postgres.sslmode).toBe(CONNECTION_DEFAULTS.sslmode);
    expect(env.connection).toEqual({
      name: KEYBUZZ_DEFAULTS.connectionName,
      maxOpenConnections: CONNECTION_DEFAULTS.maxOpenConnections,
      maxIdleConnections: CONNECTION_DEFAULTS.maxIdleConnections,
      maxConnectionLifetime: CONNECTION_DEFAULTS.maxConnectionLifetimeSeconds,
    });
    expect(env.vaultAdmin).toMatchObject({
      username: VAULT_ADMIN_DEFAULTS.username,
      superuser: VAULT_ADMIN_DEFAULTS.superuser,
      passwordVersion: VAULT_ADMIN_DEFAULTS.passwordVersion,
      reservedConnections: VAULT_ADMIN_DEFAULTS.reservedConnections,
    });
    expect([env.auth.approle?.path, env.auth.approle?.bindings[0].secretIdTtl]).toEqual([
      APPROLE_AUTH_DEFAULTS.path,
      APPROLE_AUTH_DEFAULTS.secretIdTtlSeconds,
    ]);
    expect(env.auth.kubernetes?.path).toBe(KUBERNETES_AUTH_DEFAULTS.path);
    expect(env.auth.kubernetes?.bindings[0].workload.tokenExpiration).toBe(KUBERNETES_WORKLOAD_DEFAULTS.tokenExpirationSeconds);
    expect(app.agent.format).toBe(AGENT_CONFIG_DEFAULTS.format);
    expect(env.agent).toEqual({
      configDirectory: KEYBUZZ_DEFAULTS.agentConfigDirectory,
      runDirectory: KEYBUZZ_DEFAULTS.agentRunDirectory,
      binary: AGENT_CONFIG_DEFAULTS.binary,
    });
    expect(env.postgres.database).toBe(KEYBUZZ_DEFAULTS.database);
  });

  // a default written out again drifts from the construct's: the schema holds none but the config's own.
  it("spells out no default value but those of fields only the config has", () => {
    const source = readFileSync(join(ROOT, "stacks", "environment", "schema.ts"), "utf8");
    const literals = [...source.matchAll(/\.(?:default|prefault)\((-?\d[\d_]*|"[^"]*"|\[\s*"[^)]*\]|true|false)\)/g)].map((m) => m[1]);
    // the state backend's host, the role Terraform connects as and S3 locking (no construct has them), and three
    // switches that are off when absent (owned, create, acknowledgeSuperuserInProd).
    expect(literals.sort()).toEqual(['"app.terraform.io"', '"postgres"', "false", "false", "false", "true"].sort());
  });

  it("protects the data by default: postgres.protectData is true when left out", () => {
    const text = changed(PROD, (c) => delete c.postgres.protectData);

    expect(parseEnvironment("prod", "config/prod.json", text).postgres.protectData).toBe(true);
  });

  it("accepts postgres.protectData: false, for an environment whose data may go", () => {
    const text = changed(DEV, (c) => (c.postgres.protectData = false));

    expect(parseEnvironment("dev", "config/dev.json", text).postgres.protectData).toBe(false);
  });

  it("leaves the data of every committed environment protected but local's", () => {
    const protectedData = Object.fromEntries(loadEnvironments(CONFIG_DIR).map((env) => [env.name, env.postgres.protectData]));

    expect(protectedData).toEqual({ dev: true, local: false, prod: true, staging: true });
  });
});
