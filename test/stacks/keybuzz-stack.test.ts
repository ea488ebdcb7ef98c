import { hostname, homedir, tmpdir } from "node:os";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Testing } from "cdktf";
import { MIN_ENGINE_VERSION } from "../../constructs/vocabulary";
import { alertRulesFile } from "../../stacks/alert-rules";
import { loadEnvironments, parseEnvironment } from "../../stacks/environment";
import { LEASE_AUDIT_NAMES } from "../../stacks/keybuzz-names";
import { KeybuzzStack, stackName } from "../../stacks/keybuzz-stack";
import { ROOT, connectionBlock, onlyResource, resources, synthEnvironments, tempDir, testApp, type TfJson } from "../helpers";
import { APPLICATIONS, CONFIG_DIR, policiesOf, synthVariant } from "./keybuzz-stack.fixture";

const ENVIRONMENTS = loadEnvironments(CONFIG_DIR).map((env) => env.name);

/** The lease audit's own Vault roles and base roles (constructs/lease-audit.ts), in every environment. */
const AUDIT_VAULT_ROLES = [LEASE_AUDIT_NAMES.probeRole, LEASE_AUDIT_NAMES.auditRole, LEASE_AUDIT_NAMES.fixRole];
const AUDIT_BASE_ROLES = [LEASE_AUDIT_NAMES.probeBaseRole, LEASE_AUDIT_NAMES.auditBaseRole, LEASE_AUDIT_NAMES.fixBaseRole];

/** The paths a policy text grants, in order. */
function policyPaths(policy: string): string[] {
  return [...policy.matchAll(/^path "([^"]+)"/gm)].map((m) => m[1]);
}

/** The `type.id` address of every resource of the JSON whose type matches, in type then ID order. */
function addresses(json: TfJson, type: RegExp): string[] {
  return Object.keys(json.resource)
    .filter((t) => type.test(t))
    .sort()
    .flatMap((t) =>
      Object.keys(json.resource[t])
        .sort()
        .map((id) => `${t}.${id}`),
    );
}

/** The schemas that hold the applications' data: all but the credential functions' schema. */
function dataSchemas(json: TfJson) {
  // the credential functions' schema and the lease audit's hold no data: code only, dropped with the stack.
  return resources(json, "postgresql_schema").filter((s) => s.name !== "keybuzz_vault" && s.name !== LEASE_AUDIT_NAMES.sessionsSchema);
}

describe("KeybuzzStack, per environment file", () => {
  const out = tempDir("stack-out");
  const again = tempDir("stack-again");
  let synthesized: Record<string, string>;
  beforeAll(() => {
    synthesized = synthEnvironments(CONFIG_DIR, out.path);
  });
  afterAll(() => {
    out.remove();
    again.remove();
  });

  it("covers the four environments", () => {
    expect(ENVIRONMENTS).toEqual(["dev", "local", "prod", "staging"]);
  });

  it.each(ENVIRONMENTS)("states in %s the engine version the write-only attributes need, so an older engine names it", (env) => {
    const json = JSON.parse(synthesized[env]);
    expect(json.terraform.required_version).toBe(`>= ${MIN_ENGINE_VERSION}`);
    expect(MIN_ENGINE_VERSION).toBe("1.11.0");
  });

  it.each([
    ["local", ["chatwoot", "keybuzz-api", "n8n", "workers"]],
    ["prod", ["workers"]],
  ])("writes %s's agent files beside its JSON for the applications that log in with AppRole: %j", (env, apps) => {
    const agentDir = join(out.path, "stacks", `keybuzz-${env}`, "agent");

    expect(readdirSync(agentDir).sort()).toEqual(apps);
    for (const app of apps) expect(readdirSync(join(agentDir, app)).sort()).toEqual(["agent.hcl", `vault-agent-${app}.service`]);
  });

  it.each(ENVIRONMENTS)("writes %s's monitoring files beside its JSON: the log program, naming each application, and the alert rules", (env) => {
    const dir = join(out.path, "stacks", `keybuzz-${env}`, "monitoring");
    expect(readdirSync(dir).sort()).toEqual(["alerts.yml", "postgresql-log.mtail"]);
    expect(readFileSync(join(dir, "alerts.yml"), "utf8")).toBe(alertRulesFile());
    const program = readFileSync(join(dir, "postgresql-log.mtail"), "utf8");
    const config = JSON.parse(readFileSync(join(ROOT, "config", `${env}.json`), "utf8")) as { applications: { name: string }[] };
    for (const { name } of config.applications) expect(program).toContain(`keybuzz_postgres_login_failures_total["${name}"]["role_missing"]++`);
    expect(program).toContain('$user == "vault_admin" {');
    expect(program).toContain('keybuzz_postgres_login_failures_total["leases-audit"]["wrong_password"]++');
  });

  it("renders each application's credentials in its own format: Chatwoot's and n8n's variables, a service file for the others", () => {
    const hcl = (app: string) => readFileSync(join(out.path, "stacks", "keybuzz-local", "agent", app, "agent.hcl"), "utf8");

    expect(hcl("chatwoot")).toContain("\nPOSTGRES_USERNAME={{ .Data.username }}\n");
    expect(hcl("chatwoot")).toContain('{{ with secret "database/creds/chatwoot-db" -}}');
    expect(hcl("n8n")).toContain("\nDB_POSTGRESDB_USER={{ .Data.username }}\n");
    expect(hcl("n8n")).toContain("\nDB_POSTGRESDB_SCHEMA=n8n\n");
    expect(hcl("keybuzz-api")).toContain("\n[keybuzz-api]\n");
    expect(hcl("workers")).toContain("\noptions=--role=keybuzz_workers\n");
  });

  it.each(ENVIRONMENTS)("synthesizes %s as in its snapshot", async (env) => {
    await expect(synthesized[env]).toMatchFileSnapshot(`__snapshots__/keybuzz-${env}.cdk.tf.json`);
  });

  it.each(ENVIRONMENTS)("synthesizes %s with nothing from this machine or this run", (env) => {
    // GIVEN
    const text = synthesized[env];
    const machine = [ROOT, process.cwd(), homedir(), tmpdir(), out.path];
    // a very short host name ("vm") would match ordinary words.
    if (hostname().length >= 4) machine.push(hostname());

    // THEN
    for (const value of machine) expect(text, `${env} contains ${JSON.stringify(value)}`).not.toContain(value);
    expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
    // an absolute path as a whole value ("//" is cdktf's metadata key).
    expect(text).not.toMatch(/"(\/[^/"]|[A-Za-z]:\\)[^"]*"/);
  });

  it("synthesizes the same text on a second run", () => {
    const second = synthEnvironments(CONFIG_DIR, again.path);

    expect(second).toEqual(synthesized);
  });

  describe.each(["dev", "prod"])("%s, as in the runbook", (env) => {
    let json: TfJson;
    beforeAll(() => {
      json = JSON.parse(synthesized[env]) as TfJson;
    });

    it("creates the four base roles and the lease audit's three NOLOGIN", () => {
      const base = resources(json, "postgresql_role").filter((r) => r.name !== "vault_admin");

      expect(base.map((r) => r.name).sort()).toEqual(["chatwoot", "keybuzz_api", "keybuzz_workers", "n8n", ...AUDIT_BASE_ROLES].sort());
      for (const role of base) expect(role).toMatchObject({ login: false });
    });

    it("creates vault_admin: LOGIN, no role attribute, password from the variable only", () => {
      const admin = resources(json, "postgresql_role").find((r) => r.name === "vault_admin");
      expect(admin).not.toHaveProperty("create_role");
      expect(resources(json, "postgresql_role")).toContainEqual(
        expect.objectContaining({
          name: "vault_admin",
          login: true,
          superuser: false,
          password_wo: "${var.vault_admin_password}",
          password_wo_version: "1",
        }),
      );
    });

    it("gives vault_admin no membership, only EXECUTE on the credential functions", () => {
      expect(resources(json, "postgresql_grant_role")).toEqual([]);
      const inSchema = (pattern: RegExp) =>
        resources(json, "postgresql_function")
          .filter((f) => pattern.test(String(f.schema)))
          .map((f) => f.name)
          .sort();
      expect(inSchema(/CredentialFunctions_Schema/)).toEqual(["create_user", "drop_user", "renew_user"]);
      // the lease audit's function is in a schema of its own, out of reach of vault_admin's grant on the credential functions'.
      expect(inSchema(/LeaseAudit_OrphanSessions_Schema/)).toEqual(["orphan_sessions"]);
      for (const f of resources(json, "postgresql_function")) expect(f).toMatchObject({ security_definer: true, schema: expect.any(String) });
      expect(resources(json, "postgresql_grant")).toContainEqual(
        expect.objectContaining({ object_type: "function", privileges: ["EXECUTE"], role: expect.stringContaining("postgresql_role.VaultAdmin") }),
      );
    });

    it("closes postgres and template1 to PUBLIC, so issued users stay in keybuzz", () => {
      const closed = resources(json, "postgresql_grant").filter((g) => g.role === "public" && g.object_type === "database");

      expect(closed.map((g) => g.database).sort()).toEqual(["${postgresql_database.BaseRoles_Database_A3666F27.name}", "postgres", "template1"]);
      for (const g of closed) expect(g.privileges).toEqual([]);
    });

    it("mounts the database secrets engine at database", () => {
      expect(resources(json, "vault_database_secrets_mount")).toEqual([
        expect.objectContaining({ path: "database", default_lease_ttl_seconds: 3600, max_lease_ttl_seconds: 86400 }),
      ]);
      expect(resources(json, "vault_mount")).toEqual([]);
    });

    it("connects as keybuzz-postgres, allowing exactly the four dynamic roles and the lease audit's three, in the mount", () => {
      expect(onlyResource(json, "vault_database_secrets_mount").postgresql).toEqual([
        expect.objectContaining({
          name: "keybuzz-postgres",
          plugin_name: "postgresql-database-plugin",
          verify_connection: true,
          allowed_roles: [...APPLICATIONS.map((a) => a.vaultRole), ...AUDIT_VAULT_ROLES],
          username: "vault_admin",
          connection_url: expect.stringMatching(/^postgresql:\/\/\{\{username\}\}:\{\{password\}\}@[^/]+:5432\/keybuzz\?sslmode=verify-full$/),
        }),
      ]);
      expect(resources(json, "vault_database_secret_backend_connection")).toEqual([]);
    });

    it("makes the mount wait for vault_admin, its grants, the database, the base roles, their schemas and grants, the functions", () => {
      // on destroy the mount goes first, Vault revoking every lease, while all it needs for that still exists;
      // only PUBLIC's revoke is not needed.
      const needed = addresses(json, /^postgresql_/).filter((a) => !a.startsWith("postgresql_grant.BaseRoles_RevokePublic"));

      expect(needed).toEqual(
        expect.arrayContaining([expect.stringMatching(/^postgresql_schema\./), expect.stringMatching(/^postgresql_function\./)]),
      );
      expect([...(onlyResource(json, "vault_database_secrets_mount").depends_on as string[])].sort()).toEqual([...needed].sort());
    });

    it("protects the database and every schema from destroy, schemas dropped RESTRICT", () => {
      expect(onlyResource(json, "postgresql_database").lifecycle).toEqual({ prevent_destroy: true });
      const schemas = dataSchemas(json);
      expect(schemas.length).toBeGreaterThan(0);
      for (const schema of schemas) expect(schema).toMatchObject({ lifecycle: { prevent_destroy: true }, drop_cascade: false });
    });

    it.each(APPLICATIONS)("creates the dynamic role $vaultRole, granting $baseRole for 1h, at most 24h", (app) => {
      const role = resources(json, "vault_database_secret_backend_role").find((r) => r.name === app.vaultRole);

      expect(role).toMatchObject({ default_ttl: 3600, max_ttl: 86400 });
      expect(role?.creation_statements).toEqual([
        `SELECT keybuzz_vault.create_user('{{name}}', '{{password}}', '{{expiration}}', '${app.vaultRole}');`,
      ]);
      expect(role?.revocation_statements).toEqual([`SELECT keybuzz_vault.drop_user('{{name}}', '${app.vaultRole}');`]);
      const body = String(resources(json, "postgresql_function").find((f) => f.name === "create_user")?.body);
      expect(body).toContain(`('${app.vaultRole}', '${app.baseRole}', ARRAY['${app.baseRole}']::pg_catalog.text[], 20, 86400)`);
    });

    it("creates no other dynamic role than the applications' and the lease audit's", () => {
      expect(resources(json, "vault_database_secret_backend_role")).toHaveLength(4 + AUDIT_VAULT_ROLES.length);
    });

    it("outputs the mount path, the connection name and, per application, its credentials path, base role, policy, logins and lease budget", () => {
      expect(json.output.mount_path.value).toBe("database");
      expect(json.output.connection_name.value).toBe("keybuzz-postgres");
      expect(json.output.applications.value).toEqual(
        Object.fromEntries(
          APPLICATIONS.map((a) => [
            a.name,
            {
              vault_role: a.vaultRole,
              credentials_path: `database/creds/${a.vaultRole}`,
              base_role: a.baseRole,
              policy: a.vaultRole,
              // only the workers are bound to an auth method in these files.
              auth: a.name === "workers" ? { approle: { path: "auth/approle/login", role: "workers" } } : {},
              // one replica each (the default): 4 × 1.
              lease_budget: 4,
            },
          ]),
        ),
      );
    });

    it("creates one policy per application, reading only that application's credentials, and the lease audit's two", () => {
      const policies = resources(json, "vault_policy");

      expect(policies.map((p) => p.name).sort()).toEqual(
        [...APPLICATIONS.map((a) => a.vaultRole), LEASE_AUDIT_NAMES.auditPolicy, LEASE_AUDIT_NAMES.fixPolicy].sort(),
      );
      for (const app of APPLICATIONS) {
        const text = String(policies.find((p) => p.name === app.vaultRole)?.policy);
        const creds = `database/creds/${app.vaultRole}`;
        expect(policyPaths(text)).toEqual([
          creds,
          `sys/leases/renew/${creds}/*`,
          `sys/leases/revoke/${creds}/*`,
          "sys/leases/renew",
          "auth/token/renew-self",
          "auth/token/lookup-self",
          "auth/token/revoke-self",
        ]);
        for (const other of APPLICATIONS.filter((o) => o !== app)) expect(text).not.toContain(other.vaultRole);
      }
    });

    it("logs the workers in with AppRole at approle, carrying only their policy, and mounts no Kubernetes auth", () => {
      expect(resources(json, "vault_auth_backend")).toEqual([expect.objectContaining({ type: "approle", path: "approle" })]);
      const roles = resources(json, "vault_approle_auth_backend_role");
      expect(roles).toEqual([
        expect.objectContaining({
          role_name: "workers",
          token_no_default_policy: true,
          token_ttl: 3600,
          token_max_ttl: 86400,
          secret_id_ttl: 86400,
        }),
      ]);
      expect(policiesOf(json, roles[0])).toEqual(["workers-db"]);
      expect(resources(json, "vault_kubernetes_auth_backend_role")).toEqual([]);
      expect(resources(json, "vault_kubernetes_auth_backend_config")).toEqual([]);
    });

    it("keeps its state in a local backend, at a path relative to the project", () => {
      expect(json.terraform.backend).toEqual({ local: { path: `../../../terraform.keybuzz-${env}.tfstate` } });
    });

    it("declares the password as a sensitive, ephemeral variable without default", () => {
      expect(json.variable.vault_admin_password).toEqual(
        expect.objectContaining({ type: "string", sensitive: true, ephemeral: true, nullable: false }),
      );
      expect(json.variable.vault_admin_password).not.toHaveProperty("default");
    });

    it("configures the providers without credentials", () => {
      expect(json.provider.vault).toEqual([{ address: expect.stringMatching(/^https:\/\//) }]);
      expect(json.provider.postgresql).toEqual([
        expect.objectContaining({ port: 5432, database: "postgres", username: "postgres", sslmode: "verify-full" }),
      ]);
      expect(json.provider.postgresql[0]).not.toHaveProperty("password");
    });
  });
});

describe("KeybuzzStack", () => {
  it("names a stack after its environment", () => {
    expect(stackName("prod")).toBe("keybuzz-prod");
  });

  it("passes cdktf's validations", () => {
    const data = readFileSync(join(CONFIG_DIR, "local.json"), "utf8");
    const stack = new KeybuzzStack(testApp(), "keybuzz-local", { config: parseEnvironment("local", "config/local.json", data) });

    expect(() => Testing.synth(stack, true)).not.toThrow();
  });

  it("keeps local state at the configured relative path", () => {
    const { json } = synthVariant((c) => (c.backend = { type: "local", path: "state/local.tfstate" }));

    expect(json.terraform.backend).toEqual({ local: { path: "../../../state/local.tfstate" } });
  });

  it("keeps state in PostgreSQL without a connection string, which comes from PG_CONN_STR", () => {
    const { json } = synthVariant((c) => (c.backend = { type: "pg" }));

    expect(json.terraform.backend).toEqual({ pg: { schema_name: "terraform_remote_state" } });
  });

  it("keeps state in S3, encrypted and locked", () => {
    const { json } = synthVariant((c) => (c.backend = { type: "s3", bucket: "b", key: "k", region: "eu-west-3" }));

    expect(json.terraform.backend).toEqual({ s3: { bucket: "b", key: "k", region: "eu-west-3", encrypt: true, use_lockfile: true } });
  });

  it("leaves S3 locking off when told", () => {
    const { json } = synthVariant((c) => (c.backend = { type: "s3", bucket: "b", key: "k", region: "r", useLockfile: false }));

    expect(json.terraform.backend.s3).not.toHaveProperty("use_lockfile");
  });

  it("keeps state in HCP Terraform", () => {
    const { json } = synthVariant((c) => (c.backend = { type: "remote", organization: "keybuzz", workspace: "prod" }));

    expect(json.terraform.backend).toEqual({
      remote: { hostname: "app.terraform.io", organization: "keybuzz", workspaces: { name: "prod" } },
    });
  });

  it("makes vault_admin the runbook's SUPERUSER, with no membership, when configured", () => {
    const { json } = synthVariant((c) => (c.vaultAdmin = { superuser: true }));

    expect(resources(json, "postgresql_role")).toContainEqual(expect.objectContaining({ name: "vault_admin", superuser: true }));
    expect(resources(json, "postgresql_grant_role")).toEqual([]);
  });

  it("grants the configured base roles, the first being the login role", () => {
    // GIVEN
    const { json } = synthVariant((c) => (c.applications[3].additionalBaseRoles = ["keybuzz_api"]));

    // THEN
    const workers = resources(json, "vault_database_secret_backend_role").find((r) => r.name === "workers-db");
    const body = String(resources(json, "postgresql_function").find((f) => f.name === "create_user")?.body);
    expect(String(workers?.creation_statements)).toContain("'workers-db'");
    expect(body).toContain(`('workers-db', 'keybuzz_workers', ARRAY['keybuzz_workers', 'keybuzz_api']::pg_catalog.text[], 20, 86400)`);
    expect(json.output.applications.value.workers.base_role).toBe("keybuzz_workers");
  });

  it("reads credentials under the configured mount path", () => {
    const { json } = synthVariant((c) => (c.vault.mountPath = "keybuzz-db"));

    expect(json.output.mount_path.value).toBe("keybuzz-db");
    expect(json.output.applications.value.n8n.credentials_path).toBe("keybuzz-db/creds/n8n-db");
  });

  it("passes the configured TTLs and pool to Vault", () => {
    const { json } = synthVariant((c) => {
      c.applications[0].defaultTtl = "15m";
      c.applications[0].maxTtl = "2h";
      c.connection = { maxOpenConnections: 16, maxIdleConnections: 2, maxConnectionLifetime: "1m" };
    });

    expect(resources(json, "vault_database_secret_backend_role")).toContainEqual(
      expect.objectContaining({ name: "keybuzz-api-db", default_ttl: 900, max_ttl: 7200 }),
    );
    expect(connectionBlock(json, "keybuzz-postgres")).toMatchObject({
      max_open_connections: 16,
      max_idle_connections: 2,
      max_connection_lifetime: 60,
    });
  });

  it("lets local's database and schemas be destroyed, as local.json sets protectData false", () => {
    const { json } = synthVariant(() => undefined);

    expect(onlyResource(json, "postgresql_database").lifecycle).toEqual({ prevent_destroy: false });
    for (const schema of dataSchemas(json)) expect(schema).toMatchObject({ lifecycle: { prevent_destroy: false }, drop_cascade: true });
  });

  it("passes postgres.protectData to the base roles", () => {
    const { json } = synthVariant((c) => (c.postgres.protectData = true));

    expect(onlyResource(json, "postgresql_database").lifecycle).toEqual({ prevent_destroy: true });
    for (const schema of dataSchemas(json)) expect(schema).toMatchObject({ lifecycle: { prevent_destroy: true }, drop_cascade: false });
  });

  it("protects the data when postgres.protectData is left out", () => {
    const { json } = synthVariant((c) => delete c.postgres.protectData);

    expect(onlyResource(json, "postgresql_database").lifecycle).toEqual({ prevent_destroy: true });
  });
});
