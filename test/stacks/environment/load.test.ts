import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadEnvironments, parseDuration, parseEnvironment } from "../../../stacks/environment";
import { CA_PEM, ROOT, runMain, tempDir, type MainRun, type TfJson } from "../../helpers";

const CONFIG_DIR = join(ROOT, "config");
const DEV = readFileSync(join(CONFIG_DIR, "dev.json"), "utf8");
const PROD = readFileSync(join(CONFIG_DIR, "prod.json"), "utf8");

const IDENTIFIER = "must be a lower-case PostgreSQL identifier";
const VAULT_NAME = "must be a Vault path segment";
const DURATION = "must be a positive duration";

/** The problems ConfigError reports for that text, or none when it is valid. */
function problemsOf(name: string, file: string, text: string): readonly string[] {
  try {
    parseEnvironment(name, file, text);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

/** The config text after changing its JSON. */
function changed(text: string, change: (config: TfJson) => void): string {
  const data = JSON.parse(text) as TfJson;
  change(data);
  return JSON.stringify(data, null, 2);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Matches a problem line that names the file and the field, says `says`, and ends with the value got. */
function problem(file: string, field: string, says: string, got: string) {
  return expect.stringMatching(new RegExp(`^${escapeRegExp(`${file}: ${field}: `)}.*${escapeRegExp(says)}.*${escapeRegExp(`(got ${got})`)}$`));
}

interface Rule {
  /** What is wrong, for the test name. */
  readonly rule: string;
  readonly change: (config: TfJson) => void;
  /** The field path as the message prints it. */
  readonly field: string;
  /** Part of the message saying what is accepted or why not. */
  readonly says: string;
  /** The value as the message prints it. */
  readonly got: string;
}

const api = "applications[0](keybuzz-api)";
const approle = "auth.approle.bindings[0](workers)";
const kubernetes = "auth.kubernetes.bindings[0](keybuzz-api)";

/** The first Kubernetes binding, after adding the method (keybuzz-api's pods in keybuzz) if the file has none. */
function k8sBinding(c: TfJson): TfJson {
  c.auth ??= {};
  c.auth.kubernetes ??= {
    host: "https://10.0.0.50:6443",
    bindings: [{ application: "keybuzz-api", serviceAccounts: ["keybuzz-api"], namespaces: ["keybuzz"] }],
  };
  return c.auth.kubernetes.bindings[0];
}

/** Rules checked on any environment file; each breaks dev.json in one way. */
const RULES: readonly Rule[] = [
  ...[
    ["a quote", 'api"'],
    ["a semicolon", "api;drop"],
    ["a space", "key buzz"],
    ["upper case", "KeyBuzz"],
    ["a leading digit", "1api"],
  ].map(([what, value]) => ({
    rule: `a base role name with ${what}`,
    change: (c: TfJson) => (c.applications[0].baseRole = value),
    field: `${api}.baseRole`,
    says: IDENTIFIER,
    got: JSON.stringify(value),
  })),
  {
    rule: "a base role name over 63 bytes",
    change: (c) => (c.applications[0].baseRole = "a".repeat(64)),
    field: `${api}.baseRole`,
    says: "must be at most 63 bytes",
    got: JSON.stringify("a".repeat(64)),
  },
  {
    rule: "a base role name starting with pg_",
    change: (c) => (c.applications[0].baseRole = "pg_api"),
    field: `${api}.baseRole`,
    says: "must not start with pg_",
    got: '"pg_api"',
  },
  {
    rule: "an unsafe database name",
    change: (c) => (c.postgres.database = "keybuzz;"),
    field: "postgres.database",
    says: IDENTIFIER,
    got: '"keybuzz;"',
  },
  {
    rule: "an unsafe vault_admin name",
    change: (c) => (c.vaultAdmin.username = "Vault Admin"),
    field: "vaultAdmin.username",
    says: IDENTIFIER,
    got: '"Vault Admin"',
  },
  {
    rule: "an unsafe closed database name",
    change: (c) => (c.postgres.closeDatabases = ["postgres", "Other DB"]),
    field: "postgres.closeDatabases[1]",
    says: IDENTIFIER,
    got: '"Other DB"',
  },
  {
    rule: "the application database among the closed ones",
    change: (c) => (c.postgres.closeDatabases = ["keybuzz"]),
    field: "postgres.closeDatabases[0]",
    says: 'must not name the application database (postgres.database "keybuzz")',
    got: '"keybuzz"',
  },
  {
    rule: "a connection limit below 1",
    change: (c) => (c.applications[0].connectionLimit = 0),
    field: `${api}.connectionLimit`,
    says: "must be at least 1",
    got: "0",
  },
  {
    rule: "a fractional connection limit",
    change: (c) => (c.applications[0].connectionLimit = 2.5),
    field: `${api}.connectionLimit`,
    says: "expected int",
    got: "2.5",
  },
  {
    rule: "an unsafe schema name",
    change: (c) => (c.applications[3].schemas["Api Schema"] = {}),
    field: "applications[3](workers).schemas.Api Schema",
    says: IDENTIFIER,
    got: '"Api Schema"',
  },
  {
    rule: "an unsafe granted role name",
    change: (c) => (c.applications[0].additionalBaseRoles = ["chatwoot", "n8n;"]),
    field: `${api}.additionalBaseRoles[1]`,
    says: IDENTIFIER,
    got: '"n8n;"',
  },
  ...["Keybuzz-API", "keybuzz_api_db", "-api", "api-", "a/b"].map((value) => ({
    rule: `a Vault role name ${JSON.stringify(value)}`,
    change: (c: TfJson) => (c.applications[0].vaultRole = value),
    field: `${api}.vaultRole`,
    says: VAULT_NAME,
    got: JSON.stringify(value),
  })),
  {
    rule: "an application name that is not a Vault name",
    change: (c) => (c.applications[0].name = "KeyBuzz API"),
    field: "applications[0](KeyBuzz API).name",
    says: VAULT_NAME,
    got: '"KeyBuzz API"',
  },
  {
    rule: "a connection name that is not a Vault name",
    change: (c) => (c.connection.name = "keybuzz_postgres"),
    field: "connection.name",
    says: VAULT_NAME,
    got: '"keybuzz_postgres"',
  },
  {
    rule: "a mount path that is not a Vault name",
    change: (c) => (c.vault.mountPath = "/database"),
    field: "vault.mountPath",
    says: VAULT_NAME,
    got: '"/database"',
  },
  {
    rule: "defaultTtl above maxTtl",
    change: (c) => Object.assign(c.applications[0], { defaultTtl: "2h", maxTtl: "1h" }),
    field: `${api}.defaultTtl`,
    says: "must not exceed maxTtl: 7200s > 3600s",
    got: '"2h"',
  },
  {
    rule: "defaultTtl above the default maxTtl",
    change: (c) => Object.assign(c.applications[0], { defaultTtl: "25h", maxTtl: undefined }),
    field: `${api}.defaultTtl`,
    says: "must not exceed maxTtl: 90000s > 86400s",
    got: '"25h"',
  },
  {
    rule: "maxTtl above the mount's maxLeaseTtl",
    change: (c) => (c.applications[0].maxTtl = "48h"),
    field: `${api}.maxTtl`,
    says: "must not exceed vault.maxLeaseTtl: 172800s > 86400s",
    got: '"48h"',
  },
  {
    rule: "the mount's defaultLeaseTtl above its maxLeaseTtl",
    change: (c) => Object.assign(c.vault, { defaultLeaseTtl: "2h", maxLeaseTtl: "1h" }),
    field: "vault.defaultLeaseTtl",
    says: "must not exceed vault.maxLeaseTtl: 7200s > 3600s",
    got: '"2h"',
  },
  ...[0, "0s", -60, "-5m", 1.5, "1 hour", "1d", "", "3600", true, null].map((value) => ({
    rule: `a TTL of ${JSON.stringify(value)}`,
    change: (c: TfJson) => (c.applications[0].defaultTtl = value),
    field: `${api}.defaultTtl`,
    says: DURATION,
    got: JSON.stringify(value),
  })),
  {
    rule: "a pool lifetime that is not a duration",
    change: (c) => (c.connection.maxConnectionLifetime = "forever"),
    field: "connection.maxConnectionLifetime",
    says: DURATION,
    got: '"forever"',
  },
  {
    rule: "a duplicate application name",
    change: (c) => (c.applications[1].name = "keybuzz-api"),
    field: "applications[1](keybuzz-api).name",
    says: "duplicates another application's name",
    got: '"keybuzz-api"',
  },
  {
    rule: "a duplicate base role",
    change: (c) => (c.applications[1].baseRole = "keybuzz_api"),
    field: "applications[1](chatwoot).baseRole",
    says: 'duplicates the base role of application "keybuzz-api"',
    got: '"keybuzz_api"',
  },
  {
    rule: "a Vault role the lease audit uses",
    change: (c) => (c.applications[2].vaultRole = "leases-audit"),
    field: "applications[2](n8n).vaultRole",
    says: '"leases-audit" is reserved for the lease audit (npm run leases)',
    got: '"leases-audit"',
  },
  {
    rule: "a policy name the lease audit uses (an application's policy is named after its Vault role)",
    change: (c) => (c.applications[0].vaultRole = "keybuzz-leases-fix"),
    field: "applications[0](keybuzz-api).vaultRole",
    says: '"keybuzz-leases-fix" is reserved for the lease audit (npm run leases)',
    got: '"keybuzz-leases-fix"',
  },
  {
    rule: "a base role the lease audit uses",
    change: (c) => (c.applications[1].baseRole = "keybuzz_leases_probe"),
    field: "applications[1](chatwoot).baseRole",
    says: '"keybuzz_leases_probe" is reserved for the lease audit (npm run leases)',
    got: '"keybuzz_leases_probe"',
  },
  {
    rule: "a base role named like the lease audit's schema (a base role's default schema takes its name)",
    change: (c) => (c.applications[1].baseRole = "keybuzz_leases"),
    field: "applications[1](chatwoot).baseRole",
    says: '"keybuzz_leases" is reserved for the lease audit (npm run leases)',
    got: '"keybuzz_leases"',
  },
  {
    rule: "a schema the lease audit uses",
    change: (c) => (c.applications[0].schemas = { keybuzz_leases: {} }),
    field: "applications[0](keybuzz-api).schemas.keybuzz_leases",
    says: '"keybuzz_leases" is reserved for the lease audit (npm run leases)',
    got: "{}",
  },
  {
    rule: "a duplicate Vault role",
    change: (c) => (c.applications[2].vaultRole = "chatwoot-db"),
    field: "applications[2](n8n).vaultRole",
    says: 'duplicates the Vault role of application "chatwoot"',
    got: '"chatwoot-db"',
  },
  {
    rule: "an additionalBaseRoles entry naming an unknown base role",
    change: (c) => (c.applications[0].additionalBaseRoles = ["chatwoot", "billing"]),
    field: `${api}.additionalBaseRoles[1]`,
    says: "names an unknown base role; known: keybuzz_api, chatwoot, n8n, keybuzz_workers",
    got: '"billing"',
  },
  {
    rule: "an additionalBaseRoles entry repeating the application's own base role",
    change: (c) => (c.applications[0].additionalBaseRoles = ["keybuzz_api"]),
    field: `${api}.additionalBaseRoles[0]`,
    says: "repeats the application's own base role, which is always granted",
    got: '"keybuzz_api"',
  },
  {
    rule: "a schema entry that grants nothing (it would revoke everything)",
    change: (c) => (c.applications[3].schemas.keybuzz_api = { usage: false }),
    field: "applications[3](workers).schemas.keybuzz_api",
    says: "grants nothing",
    got: '{"usage":false}',
  },
  {
    rule: "a default-privileges owner naming an unknown base role",
    change: (c) => (c.applications[3].defaultPrivileges[0].owner = "billing"),
    field: "applications[3](workers).defaultPrivileges[0].owner",
    says: "names an unknown base role; known: keybuzz_api, chatwoot, n8n, keybuzz_workers",
    got: '"billing"',
  },
  { rule: "a missing host", change: (c) => delete c.postgres.host, field: "postgres.host", says: "is required", got: "missing" },
  { rule: "an empty host", change: (c) => (c.postgres.host = ""), field: "postgres.host", says: "must not be empty", got: '""' },
  { rule: "a missing port", change: (c) => delete c.postgres.port, field: "postgres.port", says: "is required", got: "missing" },
  { rule: "a port out of range", change: (c) => (c.postgres.port = 70000), field: "postgres.port", says: "65535", got: "70000" },
  { rule: "a port as a string", change: (c) => (c.postgres.port = "5432"), field: "postgres.port", says: "expected number", got: '"5432"' },
  {
    rule: "a protectData that is not a boolean",
    change: (c) => (c.postgres.protectData = "no"),
    field: "postgres.protectData",
    says: "expected boolean",
    got: '"no"',
  },
  { rule: "a missing Vault address", change: (c) => delete c.vault.address, field: "vault.address", says: "is required", got: "missing" },
  {
    rule: "a Vault address that is not an http(s) URL",
    change: (c) => (c.vault.address = "vault.keybuzz.io:8200"),
    field: "vault.address",
    says: "must be an http(s) URL such as https://vault.example.com:8200",
    got: '"vault.keybuzz.io:8200"',
  },
  {
    rule: "an unknown sslmode",
    change: (c) => (c.postgres.sslmode = "strict"),
    field: "postgres.sslmode",
    says: '"disable"|"allow"|"prefer"|"require"|"verify-ca"|"verify-full"',
    got: '"strict"',
  },
  {
    rule: "more idle than open connections",
    change: (c) => (c.connection.maxIdleConnections = 5),
    field: "connection.maxIdleConnections",
    says: "must not exceed maxOpenConnections (4)",
    got: "5",
  },
  {
    rule: "an absolute local state path",
    change: (c) => (c.backend = { type: "local", path: "/var/lib/terraform.tfstate" }),
    field: "backend.path",
    says: "must be relative to the project",
    got: '"/var/lib/terraform.tfstate"',
  },
  {
    rule: "an unknown backend type",
    change: (c) => (c.backend = { type: "gcs" }),
    field: "backend.type",
    says: "'local' | 'pg' | 's3' | 'remote'",
    got: '"gcs"',
  },
  { rule: "no application", change: (c) => (c.applications = []), field: "applications", says: "at least one application", got: "[]" },
  {
    rule: "an unknown top-level field",
    change: (c) => (c.aplications = []),
    field: "aplications",
    says: "unknown field (check the spelling; see config/schema.json)",
    got: "[]",
  },
  {
    rule: "an unknown field in postgres",
    change: (c) => (c.postgres.sslMode = "disable"),
    field: "postgres.sslMode",
    says: "unknown field",
    got: '"disable"',
  },
  {
    rule: "an unknown field in an application",
    change: (c) => (c.applications[0].defaultTTL = "1h"),
    field: `${api}.defaultTTL`,
    says: "unknown field",
    got: '"1h"',
  },
  {
    rule: "an unknown field in a schema's access",
    change: (c) => (c.applications[3].schemas.keybuzz_api.tabels = ["SELECT"]),
    field: "applications[3](workers).schemas.keybuzz_api.tabels",
    says: "unknown field",
    got: '["SELECT"]',
  },
  {
    rule: "an unknown field in the backend",
    change: (c) => (c.backend = { type: "local", pth: "state.tfstate" }),
    field: "backend.pth",
    says: "unknown field",
    got: '"state.tfstate"',
  },
  ...(["approle", "kubernetes"] as const).flatMap((method): Rule[] => {
    const binding = (c: TfJson): TfJson => (method === "approle" ? c.auth.approle.bindings[0] : k8sBinding(c));
    const at = method === "approle" ? approle : kubernetes;
    const app = method === "approle" ? "workers" : "keybuzz-api";
    return [
      {
        rule: `a ${method} binding of an unknown application`,
        change: (c) => (binding(c).application = "billing"),
        field: `auth.${method}.bindings[0](billing).application`,
        says: "names an unknown application; known: keybuzz-api, chatwoot, n8n, workers",
        got: '"billing"',
      },
      {
        rule: `the same application bound twice in ${method}`,
        change: (c) => {
          const twin = { ...binding(c) };
          c.auth[method].bindings.push(twin);
        },
        field: `auth.${method}.bindings[1](${app}).application`,
        says: `binds the application twice in ${method}`,
        got: JSON.stringify(app),
      },
      {
        rule: `a ${method} tokenTtl above the application's maxTtl`,
        change: (c) => Object.assign(binding(c), { tokenTtl: "25h", tokenMaxTtl: undefined }),
        field: `${at}.tokenTtl`,
        says: `must not exceed the credentials' maxTtl of ${app}: 90000s > 86400s`,
        got: '"25h"',
      },
      {
        rule: `a ${method} tokenMaxTtl above the application's maxTtl`,
        change: (c) => (binding(c).tokenMaxTtl = "48h"),
        field: `${at}.tokenMaxTtl`,
        says: `must not exceed the credentials' maxTtl of ${app}: 172800s > 86400s`,
        got: '"48h"',
      },
      {
        rule: `a ${method} tokenTtl above its tokenMaxTtl`,
        change: (c) => Object.assign(binding(c), { tokenTtl: "2h", tokenMaxTtl: "1h" }),
        field: `${at}.tokenTtl`,
        says: "must not exceed tokenMaxTtl: 7200s > 3600s",
        got: '"2h"',
      },
      {
        rule: `a ${method} tokenTtl that is not a duration`,
        change: (c) => (binding(c).tokenTtl = "1d"),
        field: `${at}.tokenTtl`,
        says: DURATION,
        got: '"1d"',
      },
      {
        rule: `an unknown field in a ${method} binding`,
        change: (c) => (binding(c).tokenTTL = "1h"),
        field: `${at}.tokenTTL`,
        says: "unknown field",
        got: '"1h"',
      },
    ];
  }),
  {
    rule: "an AppRole path that is not a Vault name",
    change: (c) => (c.auth.approle.path = "auth/approle"),
    field: "auth.approle.path",
    says: VAULT_NAME,
    got: '"auth/approle"',
  },
  {
    rule: "an AppRole method that binds no application",
    change: (c) => (c.auth.approle.bindings = []),
    field: "auth.approle.bindings",
    says: "must bind at least one application",
    got: "[]",
  },
  ...["10.0.0.0/33", "300.0.0.1/8", "10.0.0.0"].map((value) => ({
    rule: `an AppRole CIDR block ${JSON.stringify(value)}`,
    change: (c: TfJson) => (c.auth.approle.bindings[0].cidrs = ["10.0.0.0/24", value]),
    field: `${approle}.cidrs[1]`,
    says: "must be an IPv4 CIDR block such as 10.0.0.0/24",
    got: JSON.stringify(value),
  })),
  ...(["serviceAccounts", "namespaces"] as const).flatMap((field): Rule[] => [
    {
      rule: `an empty ${field} list`,
      change: (c) => (k8sBinding(c)[field] = []),
      field: `${kubernetes}.${field}`,
      says: `must name at least one ${field === "serviceAccounts" ? "service account" : "namespace"}`,
      got: "[]",
    },
    {
      rule: `a space-padded name in ${field}`,
      change: (c) => (k8sBinding(c)[field] = ["keybuzz ", "x"]),
      field: `${kubernetes}.${field}[0]`,
      says: "must not be blank or space-padded",
      got: '"keybuzz "',
    },
    {
      rule: `an empty name in ${field}`,
      change: (c) => (k8sBinding(c)[field] = ["keybuzz", ""]),
      field: `${kubernetes}.${field}[1]`,
      says: "must not be empty",
      got: '""',
    },
    {
      rule: `a missing ${field}`,
      change: (c) => delete k8sBinding(c)[field],
      field: `${kubernetes}.${field}`,
      says: "is required",
      got: "missing",
    },
  ]),
  {
    rule: "a Kubernetes API server that is not https",
    change: (c) => {
      k8sBinding(c);
      c.auth.kubernetes.host = "http://10.0.0.50:6443";
    },
    field: "auth.kubernetes.host",
    says: "must be the https URL of the Kubernetes API server",
    got: '"http://10.0.0.50:6443"',
  },
  {
    rule: "a Kubernetes method without the API server",
    change: (c) => {
      k8sBinding(c);
      delete c.auth.kubernetes.host;
    },
    field: "auth.kubernetes.host",
    says: "is required",
    got: "missing",
  },
  {
    rule: "an empty Kubernetes audience",
    change: (c) => (k8sBinding(c).audience = ""),
    field: `${kubernetes}.audience`,
    says: "expected string to have >=1 characters",
    got: '""',
  },
  {
    rule: "an unknown auth method",
    change: (c) => (c.auth.userpass = {}),
    field: "auth.userpass",
    says: "unknown field",
    got: "{}",
  },
  {
    rule: "a wildcard in both service accounts and namespaces of one binding (Vault refuses it)",
    change: (c) => Object.assign(k8sBinding(c), { serviceAccounts: ["*"], namespaces: ["*"] }),
    field: kubernetes,
    says: 'serviceAccounts and namespaces must not both be the wildcard "*"',
    got: '{"application":"keybuzz-api","serviceAccounts":["*"],"namespaces":["*"]}',
  },
  {
    rule: "a Kubernetes host with a path",
    change: (c) => {
      k8sBinding(c);
      c.auth.kubernetes.host = "https://k8s.example:6443/api";
    },
    field: "auth.kubernetes.host",
    says: "must be the https URL of the Kubernetes API server, without a path",
    got: '"https://k8s.example:6443/api"',
  },
  ...["disable", "allow", "prefer", "require"].map((mode) => ({
    rule: `a PostgreSQL CA file with sslmode ${mode}, which would not check the server against it`,
    change: (c: TfJson) => Object.assign(c.postgres, { sslmode: mode, caCertFile: "pg/ca.pem" }),
    field: "postgres.caCertFile",
    says: `is used only with sslmode "verify-full" or "verify-ca"; with sslmode "${mode}" nothing would check the server against it`,
    got: '"pg/ca.pem"',
  })),
  {
    rule: "an empty PostgreSQL CA file name",
    change: (c) => (c.postgres.caCertFile = ""),
    field: "postgres.caCertFile",
    says: "must not be empty",
    got: '""',
  },
  {
    rule: "a CIDR block with leading zeros",
    change: (c) => (c.auth.approle.bindings[0].cidrs = ["010.0.0.0/8"]),
    field: `${approle}.cidrs[0]`,
    says: "must be an IPv4 CIDR block such as 10.0.0.0/24 (no leading zeros)",
    got: '"010.0.0.0/8"',
  },
  {
    rule: "an agent token that would end before the credentials' default TTL",
    change: (c) => Object.assign(c.auth.approle.bindings[0], { tokenTtl: "30m", tokenMaxTtl: "30m" }),
    field: `${approle}.tokenMaxTtl`,
    says: "must be at least the credentials' defaultTtl of workers (3600s): Vault revokes credentials with the token that read them",
    got: '"30m"',
  },
  {
    rule: "an agent template that reads another application's credentials",
    change: (c) => (c.applications[3].agent = { template: '{{ with secret "database/creds/n8n-db" }}{{ .Data.password }}{{ end }}' }),
    field: "applications[3](workers).agent.template",
    says: `reads "database/creds/n8n-db": an application's template may read only its own credentials (database/creds/workers-db) (n8n's credentials)`,
    got: JSON.stringify('{{ with secret "database/creds/n8n-db" }}{{ .Data.password }}{{ end }}'),
  },
  {
    rule: "an agent template that reads no secret",
    change: (c) => (c.applications[3].agent = { template: "user=nobody" }),
    field: "applications[3](workers).agent.template",
    says: 'reads no secret: it must contain {{ with secret "database/creds/workers-db" }}',
    got: '"user=nobody"',
  },
  {
    rule: "an injector annotation that injects another application's credentials",
    change: (c) => {
      k8sBinding(c);
      c.applications[0].agent = { annotations: { "vault.hashicorp.com/agent-inject-secret-chatwoot": "database/creds/chatwoot-db" } };
    },
    field: `${api}.agent.annotations.vault.hashicorp.com/agent-inject-secret-chatwoot`,
    says: "would inject another secret: an application's pods receive only their own credentials",
    got: '"database/creds/chatwoot-db"',
  },
  {
    rule: "an injector annotation that names another application's credentials",
    change: (c) => {
      k8sBinding(c);
      c.applications[0].agent = { annotations: { "vault.hashicorp.com/agent-inject-default-template": "database/creds/n8n-db" } };
    },
    field: `${api}.agent.annotations.vault.hashicorp.com/agent-inject-default-template`,
    says: 'names "database/creds/n8n-db": an application may read only its own credentials (database/creds/keybuzz-api-db)',
    got: '"database/creds/n8n-db"',
  },
  {
    rule: "an injector annotation that turns off revocation at shutdown",
    change: (c) => {
      k8sBinding(c);
      c.applications[0].agent = { annotations: { "vault.hashicorp.com/agent-revoke-on-shutdown": "false" } };
    },
    field: `${api}.agent.annotations.vault.hashicorp.com/agent-revoke-on-shutdown`,
    says: "is set from the config (Vault, login, revocation); it cannot be overridden",
    got: '"false"',
  },
  {
    rule: "an injector annotation the injector does not read (a typo)",
    change: (c) => {
      k8sBinding(c);
      c.applications[0].agent = { annotations: { "vault.hashicorp.com/agent-limit-mem": "64Mi" } };
    },
    field: `${api}.agent.annotations.vault.hashicorp.com/agent-limit-mem`,
    says: "is not an annotation the Vault Agent injector (vault-k8s 1.7.6) reads: it would be ignored; check its spelling",
    got: '"64Mi"',
  },
  {
    rule: "an injector annotation that turns off the check of Vault's certificate",
    change: (c) => {
      k8sBinding(c);
      c.applications[0].agent = { annotations: { "vault.hashicorp.com/tls-skip-verify": "true" } };
    },
    field: `${api}.agent.annotations.vault.hashicorp.com/tls-skip-verify`,
    says: "would turn off the check of Vault's certificate",
    got: '"true"',
  },
  {
    rule: "pods in a namespace the Kubernetes binding does not bind",
    change: (c) => (k8sBinding(c).workload = { namespace: "default" }),
    field: `${kubernetes}.workload.namespace`,
    says: "is not one of the role's namespaces (keybuzz): Vault would refuse the pods' login",
    got: '"default"',
  },
  {
    rule: "pods whose token has another audience than the binding's",
    change: (c) => Object.assign(k8sBinding(c), { audience: "vault", workload: { audience: "https://kubernetes.default.svc" } }),
    field: `${kubernetes}.workload.audience`,
    says: "differs from the role's audience \"vault\": Vault would refuse the pods' token",
    got: '"https://kubernetes.default.svc"',
  },
  {
    rule: "a projected token shorter than Kubernetes allows",
    change: (c) => (k8sBinding(c).workload = { tokenExpiration: "5m" }),
    field: `${kubernetes}.workload.tokenExpiration`,
    says: "must be at least 600 seconds (the API server refuses a shorter projected token)",
    got: '"5m"',
  },
  {
    rule: "injector annotations for an application with no Kubernetes binding",
    change: (c) => (c.applications[0].agent = { annotations: { "vault.hashicorp.com/agent-limits-mem": "64Mi" } }),
    field: `${api}.agent.annotations.vault.hashicorp.com/agent-limits-mem`,
    says: "needs a Kubernetes binding of this application (auth.kubernetes.bindings)",
    got: '"64Mi"',
  },
  {
    rule: "n8n's agent with an encrypting sslmode and no CA for it (n8n would connect in clear)",
    change: (c) => c.auth.approle.bindings.push({ application: "n8n" }),
    field: "applications[2](n8n).agent.format",
    says: 'n8n uses TLS only when given a CA: with postgres.sslmode "verify-full" set agent.postgresCaCertPath',
    got: '"n8n"',
  },
  {
    rule: "an agent folder that is not an absolute path",
    change: (c) => (c.agent = { runDirectory: "run/keybuzz" }),
    field: "agent.runDirectory",
    says: "must be an absolute path of letters, digits and ._/-",
    got: '"run/keybuzz"',
  },
];

/** Rules only prod.json must follow; each breaks prod.json in one way. */
const PROD_RULES: readonly Rule[] = [
  ...["disable", "allow", "prefer", "require"].map((mode) => ({
    rule: `sslmode ${mode}`,
    change: (c: TfJson) => (c.postgres.sslmode = mode),
    field: "postgres.sslmode",
    says: 'prod must verify the server certificate: use "verify-full" or "verify-ca"',
    got: JSON.stringify(mode),
  })),
  {
    rule: "a SUPERUSER vault_admin without acknowledgeSuperuserInProd",
    change: (c) => (c.vaultAdmin.superuser = true),
    field: "vaultAdmin.superuser",
    says: "a SUPERUSER vault_admin in prod needs vaultAdmin.acknowledgeSuperuserInProd: true",
    got: "superuser: true without it",
  },
  {
    rule: "a SUPERUSER vault_admin with acknowledgeSuperuserInProd false",
    change: (c) => Object.assign(c.vaultAdmin, { superuser: true, acknowledgeSuperuserInProd: false }),
    field: "vaultAdmin.superuser",
    says: "needs vaultAdmin.acknowledgeSuperuserInProd: true",
    got: "superuser: true without it",
  },
  {
    rule: "a plain-http Vault address",
    change: (c) => (c.vault.address = "http://vault.keybuzz.io:8200"),
    field: "vault.address",
    says: "prod must use https",
    got: '"http://vault.keybuzz.io:8200"',
  },
  {
    rule: "a wildcard Kubernetes service account",
    change: (c) => (k8sBinding(c).serviceAccounts = ["*", "keybuzz-api"]),
    field: "auth.kubernetes.bindings[0](keybuzz-api).serviceAccounts[0]",
    says: "prod must name its service accounts, not the wildcard",
    got: '"*"',
  },
  {
    rule: "a wildcard Kubernetes namespace",
    change: (c) => {
      // a binding of its own: a wildcard in both lists of one binding is refused everywhere.
      k8sBinding(c);
      c.auth.kubernetes.bindings.push({ application: "chatwoot", serviceAccounts: ["chatwoot"], namespaces: ["keybuzz", "*"] });
    },
    field: "auth.kubernetes.bindings[1](chatwoot).namespaces[1]",
    says: "prod must name its namespaces, not the wildcard",
    got: '"*"',
  },
];

/** The problems of loading the config folder `dir`, or none. */
function loadProblems(dir: string): readonly string[] {
  try {
    loadEnvironments(dir);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe("parseEnvironment", () => {
  it.each(RULES)("rejects $rule, naming the file, the field and the value", ({ change, field, says, got }) => {
    // WHEN
    const problems = problemsOf("dev", "config/dev.json", changed(DEV, change));

    // THEN
    expect(problems).toContainEqual(problem("config/dev.json", field, says, got));
  });

  it.each(PROD_RULES)("rejects $rule in prod, naming the file, the field and the value", ({ change, field, says, got }) => {
    const problems = problemsOf("prod", "config/prod.json", changed(PROD, change));

    expect(problems).toContainEqual(problem("config/prod.json", field, says, got));
  });

  it.each(PROD_RULES)("rejects $rule in a prod-<region> environment too", ({ change, says }) => {
    const problems = problemsOf("prod-eu", "config/prod-eu.json", changed(PROD, change));

    expect(problems.join("\n")).toContain(says);
  });

  it.each(PROD_RULES)("accepts $rule outside prod", ({ change }) => {
    expect(problemsOf("staging", "config/staging.json", changed(PROD, change))).toEqual([]);
  });

  it.each(["verify-full", "verify-ca"])("accepts sslmode %s in prod", (mode) => {
    expect(
      problemsOf(
        "prod",
        "config/prod.json",
        changed(PROD, (c) => (c.postgres.sslmode = mode)),
      ),
    ).toEqual([]);
  });

  it("accepts a SUPERUSER vault_admin in prod with acknowledgeSuperuserInProd: true", () => {
    const text = changed(PROD, (c) => Object.assign(c.vaultAdmin, { superuser: true, acknowledgeSuperuserInProd: true }));

    const env = parseEnvironment("prod", "config/prod.json", text);
    expect(env.vaultAdmin).toMatchObject({ superuser: true, acknowledgeSuperuserInProd: true });
  });

  it("reports every problem of a file at once", () => {
    const text = changed(DEV, (c) => {
      c.applications[0].baseRole = "Bad";
      delete c.postgres.port;
      c.typo = 1;
    });

    expect(problemsOf("dev", "config/dev.json", text)).toEqual(
      expect.arrayContaining([
        problem("config/dev.json", `${api}.baseRole`, IDENTIFIER, '"Bad"'),
        problem("config/dev.json", "postgres.port", "is required", "missing"),
        problem("config/dev.json", "typo", "unknown field", "1"),
      ]),
    );
  });

  it("rejects text that is not JSON, naming the file", () => {
    expect(problemsOf("dev", "config/dev.json", "{ vault: ")).toEqual([expect.stringMatching(/^config\/dev\.json: not valid JSON: /)]);
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

  it("reads durations as seconds", () => {
    const text = changed(DEV, (c) => Object.assign(c.applications[0], { defaultTtl: "1h30m", maxTtl: 7200 }));

    expect(parseEnvironment("dev", "config/dev.json", text).applications[0]).toMatchObject({ defaultTtl: 5400, maxTtl: 7200 });
  });
});

describe("parseDuration", () => {
  it.each([
    [90, 90],
    ["90s", 90],
    ["15m", 900],
    ["1h", 3600],
    ["1h30m", 5400],
    ["1h0m1s", 3601],
    ["24h", 86400],
  ] as const)("reads %j as %d seconds", (value, seconds) => {
    expect(parseDuration(value)).toBe(seconds);
  });

  it.each(["", "1d", "1 h", "h", "30m1h", "1.5h", 1.5])("reads %j as NaN", (value) => {
    expect(parseDuration(value)).toBeNaN();
  });
});

describe("loadEnvironments", () => {
  const dirs: Array<{ remove: () => void }> = [];
  afterAll(() => {
    for (const d of dirs) d.remove();
  });

  /** A temp folder holding the given files (names may include sub-folders). */
  function folder(files: Record<string, string>): string {
    const dir = tempDir("config");
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir.path, name)), { recursive: true });
      writeFileSync(join(dir.path, name), text);
    }
    return dir.path;
  }

  it("loads the committed environments in name order, skipping config/schema.json", () => {
    expect(existsSync(join(CONFIG_DIR, "schema.json"))).toBe(true);

    expect(loadEnvironments(CONFIG_DIR).map((e) => e.name)).toEqual(["dev", "local", "prod", "staging"]);
  });

  it("names each environment after its file, which it keeps relative to the working directory", () => {
    const dir = folder({ "qa-eu.json": DEV });

    const [env] = loadEnvironments(dir);
    expect(env.name).toBe("qa-eu");
    expect(env.file).toBe(relative(process.cwd(), join(dir, "qa-eu.json")));
  });

  it("ignores files that are not <env>.json", () => {
    const dir = folder({ "dev.json": DEV, "README.md": "#", "Dev.json": "{}", "dev.json.bak": "{}", "_x.json": "{}" });

    expect(loadEnvironments(dir).map((e) => e.name)).toEqual(["dev"]);
  });

  it("validates every file before returning any, listing the problems of each", () => {
    // GIVEN
    const badDev = changed(DEV, (c) => (c.postgres.port = 0));
    const badProd = changed(PROD, (c) => (c.postgres.sslmode = "require"));
    const dir = folder({ "dev.json": badDev, "prod.json": badProd, "staging.json": DEV });

    // WHEN
    let error: unknown;
    try {
      loadEnvironments(dir);
    } catch (err) {
      error = err;
    }

    // THEN
    expect(error).toBeInstanceOf(ConfigError);
    const shown = (f: string) => relative(process.cwd(), join(dir, f));
    expect((error as ConfigError).problems).toEqual([
      problem(shown("dev.json"), "postgres.port", "", "0"),
      problem(shown("prod.json"), "postgres.sslmode", "prod must verify the server certificate", '"require"'),
    ]);
  });

  it("loads only the environments asked for", () => {
    const dir = folder({ "dev.json": DEV, "prod.json": PROD, "staging.json": "not even JSON" });

    expect(loadEnvironments(dir, ["prod", "dev"]).map((e) => e.name)).toEqual(["dev", "prod"]);
  });

  it("fails when an environment asked for has no file", () => {
    const dir = folder({ "dev.json": DEV });

    expect(() => loadEnvironments(dir, ["dev", "qa"])).toThrow(`${join(dir, "qa.json")}: no such environment file`);
  });

  it("fails when the folder has no environment file", () => {
    const dir = folder({ "schema.json": "{}" });

    expect(() => loadEnvironments(dir)).toThrow(`${dir}: no environment files (<env>.json) found`);
  });

  describe("auth.kubernetes.caCertFile", () => {
    /** dev.json with Kubernetes auth trusting that CA file, beside a PEM and a file that is not one. */
    function withCaFile(caCertFile: string): { dir: string; shown: string } {
      const dev = changed(DEV, (c) => {
        k8sBinding(c);
        c.auth.kubernetes.caCertFile = caCertFile;
      });
      const dir = folder({ "dev.json": dev, "k8s/ca.pem": CA_PEM, "k8s/ca.txt": "not a certificate\n" });
      return { dir, shown: relative(process.cwd(), join(dir, "dev.json")) };
    }

    it("reads the PEM relative to the config file, not to the working directory", () => {
      // GIVEN a CA file that exists only beside the config file
      const { dir } = withCaFile("k8s/ca.pem");
      expect(existsSync(join(process.cwd(), "k8s/ca.pem"))).toBe(false);

      // WHEN
      const [env] = loadEnvironments(dir);

      // THEN
      expect(env.kubernetesCaCert).toBe(CA_PEM);
    });

    it("reads nothing when no CA file is configured", () => {
      const dir = folder({ "dev.json": changed(DEV, (c) => k8sBinding(c)) });

      const [env] = loadEnvironments(dir);
      expect(env.auth.kubernetes?.caCertFile).toBeUndefined();
      expect(env.kubernetesCaCert).toBeUndefined();
    });

    it("fails when the file is not a PEM certificate, naming the file, the field and the CA file", () => {
      const { dir, shown } = withCaFile("k8s/ca.txt");

      expect(loadProblems(dir)).toEqual([
        `${shown}: auth.kubernetes.caCertFile: "k8s/ca.txt" is not a PEM certificate (no -----BEGIN CERTIFICATE-----)`,
      ]);
    });

    it("fails when the file is missing, naming the file, the field and the CA file", () => {
      const { dir, shown } = withCaFile("k8s/missing.pem");

      expect(loadProblems(dir)).toEqual([`${shown}: auth.kubernetes.caCertFile: cannot read "k8s/missing.pem" (ENOENT)`]);
    });
  });
});

describe("loadEnvironments: postgres.caCertFile", () => {
  const dirs: Array<{ remove: () => void }> = [];
  afterAll(() => {
    for (const d of dirs) d.remove();
  });

  /** dev.json with sslmode and caCertFile set, beside a PEM, a file that is not one and a PEM with a key. */
  function withCaFile(caCertFile: string, sslmode = "verify-full"): { dir: string; shown: string } {
    const dir = tempDir("pg-ca");
    dirs.push(dir);
    const files: Record<string, string> = {
      "dev.json": changed(DEV, (c) => Object.assign(c.postgres, { sslmode, caCertFile })),
      "pg/ca.pem": CA_PEM,
      "pg/ca.txt": "not a certificate\n",
      "pg/truncated.pem": CA_PEM.slice(0, CA_PEM.indexOf("-----END CERTIFICATE-----")),
      "pg/bundle.pem": `${CA_PEM}-----BEGIN PRIVATE KEY-----\nTUlJ\n-----END PRIVATE KEY-----\n`,
    };
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir.path, name)), { recursive: true });
      writeFileSync(join(dir.path, name), text);
    }
    return { dir: dir.path, shown: relative(process.cwd(), join(dir.path, "dev.json")) };
  }

  it.each(["verify-full", "verify-ca"])("reads the PEM and its absolute path, relative to the config file, with sslmode %s", (sslmode) => {
    // GIVEN a CA file that exists only beside the config file
    const { dir } = withCaFile("pg/ca.pem", sslmode);
    expect(existsSync(join(process.cwd(), "pg/ca.pem"))).toBe(false);

    // WHEN
    const [env] = loadEnvironments(dir);

    // THEN
    expect(env.postgresCaCert).toEqual({ pem: CA_PEM, path: join(dir, "pg/ca.pem") });
    expect(env.postgres.caCertFile).toBe("pg/ca.pem");
  });

  it("reads nothing when no CA file is configured", () => {
    expect(parseEnvironment("dev", "config/dev.json", DEV).postgresCaCert).toBeUndefined();
  });

  it("fails when the file is not a PEM certificate, naming the file, the field and the CA file", () => {
    const { dir, shown } = withCaFile("pg/ca.txt");

    expect(loadProblems(dir)).toEqual([`${shown}: postgres.caCertFile: "pg/ca.txt" is not a PEM certificate (no -----BEGIN CERTIFICATE-----)`]);
  });

  it("fails on a certificate cut short, as the constructs would, naming what is missing", () => {
    const { dir, shown } = withCaFile("pg/truncated.pem");

    expect(loadProblems(dir)).toEqual([`${shown}: postgres.caCertFile: "pg/truncated.pem" is not a PEM certificate (no -----END CERTIFICATE-----)`]);
  });

  it("fails when the file is missing, naming the file, the field and the CA file", () => {
    const { dir, shown } = withCaFile("pg/missing.pem");

    expect(loadProblems(dir)).toEqual([`${shown}: postgres.caCertFile: cannot read "pg/missing.pem" (ENOENT)`]);
  });

  it("fails when the file holds a private key too, which would be copied into the synthesized stack", () => {
    const { dir, shown } = withCaFile("pg/bundle.pem");

    expect(loadProblems(dir)).toEqual([
      `${shown}: postgres.caCertFile: "pg/bundle.pem" holds a private key: give the CA certificate alone, it is copied into the synthesized stack`,
    ]);
  });

  it("reports a bad PostgreSQL and a bad Kubernetes CA file at once", () => {
    // GIVEN
    const { dir, shown } = withCaFile("pg/missing.pem");
    const config = JSON.parse(readFileSync(join(dir, "dev.json"), "utf8")) as TfJson;
    k8sBinding(config);
    config.auth.kubernetes.caCertFile = "pg/ca.txt";
    writeFileSync(join(dir, "dev.json"), JSON.stringify(config));

    // THEN
    expect(loadProblems(dir)).toEqual([
      `${shown}: auth.kubernetes.caCertFile: "pg/ca.txt" is not a PEM certificate (no -----BEGIN CERTIFICATE-----)`,
      `${shown}: postgres.caCertFile: cannot read "pg/missing.pem" (ENOENT)`,
    ]);
  });
});

describe("main.ts with an invalid configuration", () => {
  /** Runs main.ts over a temp folder holding the given files; returns the run, the folder and the outdir. */
  async function synthFolder(files: Record<string, string>) {
    const config = tempDir("config");
    const out = tempDir("out");
    for (const [name, text] of Object.entries(files)) writeFileSync(join(config.path, name), text);
    try {
      const run = await runMain({ KEYBUZZ_CONFIG_DIR: config.path, CDKTF_OUTDIR: out.path });
      return { run, shown: (f: string) => relative(ROOT, join(config.path, f)), wrote: existsSync(join(out.path, "stacks")) };
    } finally {
      config.remove();
      out.remove();
    }
  }

  describe("one file per rule, in one run", () => {
    let run: MainRun;
    let wrote: boolean;
    let shown: (file: string) => string;
    // every rule's file is named after its index: main.ts validates them all and reports every problem.
    const fileOf = (i: number) => `rule-${String(i).padStart(2, "0")}.json`;
    beforeAll(async () => {
      const files: Record<string, string> = Object.fromEntries(RULES.map((r, i) => [fileOf(i), changed(DEV, r.change)]));
      // only prod.json is held to the prod rules: break them all in it at once.
      files["prod.json"] = changed(PROD, (c) => {
        for (const r of PROD_RULES) r.change(c);
      });
      ({ run, wrote, shown } = await synthFolder(files));
    });

    it("exits non-zero without writing any stack", () => {
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/^invalid configuration, nothing synthesized:\n/);
      expect(wrote).toBe(false);
    });

    it.each(RULES.map((r, i) => ({ ...r, i })))("reports $rule, naming the file, the field and the value", ({ i, field, says, got }) => {
      const lines = run.stderr.split("\n").map((l) => l.trim());

      expect(lines).toContainEqual(problem(shown(fileOf(i)), field, says, got));
    });

    it("reports the prod rules in prod.json", () => {
      const lines = run.stderr.split("\n").map((l) => l.trim());

      // the last sslmode applied wins.
      expect(lines).toContainEqual(problem(shown("prod.json"), "postgres.sslmode", "prod must verify", '"require"'));
      expect(lines).toContainEqual(problem(shown("prod.json"), "vaultAdmin.superuser", "acknowledgeSuperuserInProd", "superuser: true without it"));
      expect(lines).toContainEqual(problem(shown("prod.json"), "vault.address", "prod must use https", '"http://vault.keybuzz.io:8200"'));
      expect(lines).toContainEqual(
        problem(shown("prod.json"), "auth.kubernetes.bindings[0](keybuzz-api).serviceAccounts[0]", "not the wildcard", '"*"'),
      );
      expect(lines).toContainEqual(problem(shown("prod.json"), "auth.kubernetes.bindings[1](chatwoot).namespaces[1]", "not the wildcard", '"*"'));
    });
  });

  describe.concurrent("one rule alone", () => {
    it("stops at an unsafe base role name", async () => {
      const bad = changed(DEV, (c) => (c.applications[1].baseRole = 'chatwoot"; DROP TABLE x; --'));

      const { run, wrote, shown } = await synthFolder({ "dev.json": bad, "staging.json": DEV });

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${shown("dev.json")}: applications[1](chatwoot).baseRole: ${IDENTIFIER}`);
      expect(run.stderr).toContain(`(got "chatwoot\\"; DROP TABLE x; --")`);
      expect(wrote).toBe(false);
    });

    it("stops at a defaultTtl above maxTtl", async () => {
      const bad = changed(DEV, (c) => Object.assign(c.applications[2], { defaultTtl: "36h", maxTtl: "24h" }));

      const { run, wrote, shown } = await synthFolder({ "dev.json": bad });

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${shown("dev.json")}: applications[2](n8n).defaultTtl: must not exceed maxTtl: 129600s > 86400s (got "36h")`);
      expect(wrote).toBe(false);
    });

    it("stops at a prod sslmode that does not verify the server", async () => {
      const bad = changed(PROD, (c) => (c.postgres.sslmode = "prefer"));

      const { run, wrote, shown } = await synthFolder({ "prod.json": bad, "dev.json": DEV });

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${shown("prod.json")}: postgres.sslmode: prod must verify the server certificate`);
      expect(run.stderr).toContain('(got "prefer")');
      expect(wrote).toBe(false);
    });

    it("synthesizes a SUPERUSER vault_admin in prod once acknowledged", async () => {
      const ok = changed(PROD, (c) => Object.assign(c.vaultAdmin, { superuser: true, acknowledgeSuperuserInProd: true }));

      const { run, wrote } = await synthFolder({ "prod.json": ok });

      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(wrote).toBe(true);
    });
  });
});
