import { describe, expect, it } from "vitest";
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
