/**
 * Ways to break dev.json that the field types of stacks/environment/fields.ts refuse (PostgreSQL identifiers,
 * Vault names, durations, CIDR blocks, Kubernetes names, host paths), wherever a field uses them.
 */
import type { TfJson } from "../../../helpers";
import { AUTH_METHODS, api, approle, DURATION, firstBinding, IDENTIFIER, kubernetes, k8sBinding, type Rule, VAULT_NAME } from "../fixture";

/** Rules of the field types, checked on any environment file; each breaks dev.json in one way. */
export const RULES: readonly Rule[] = [
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
  ...AUTH_METHODS.map((method): Rule => {
    const { binding, at } = firstBinding(method);
    return {
      rule: `a ${method} tokenTtl that is not a duration`,
      change: (c) => (binding(c).tokenTtl = "1d"),
      field: `${at}.tokenTtl`,
      says: DURATION,
      got: '"1d"',
    };
  }),
  {
    rule: "an AppRole path that is not a Vault name",
    change: (c) => (c.auth.approle.path = "auth/approle"),
    field: "auth.approle.path",
    says: VAULT_NAME,
    got: '"auth/approle"',
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
  ]),
  {
    rule: "a CIDR block with leading zeros",
    change: (c) => (c.auth.approle.bindings[0].cidrs = ["010.0.0.0/8"]),
    field: `${approle}.cidrs[0]`,
    says: "must be an IPv4 CIDR block such as 10.0.0.0/24 (no leading zeros)",
    got: '"010.0.0.0/8"',
  },
  {
    rule: "an agent folder that is not an absolute path",
    change: (c) => (c.agent = { runDirectory: "run/keybuzz" }),
    field: "agent.runDirectory",
    says: "must be an absolute path of letters, digits and ._/-",
    got: '"run/keybuzz"',
  },
];
