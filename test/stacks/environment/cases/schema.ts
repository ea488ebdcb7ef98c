/**
 * Ways to break dev.json that the schema of stacks/environment/schema.ts refuses: ranges, types, enums, URLs,
 * lists that must not be empty, and the checks of one object (a schema entry, a Kubernetes binding or host).
 */
import { api, k8sBinding, kubernetes, type Rule } from "../fixture";

/** Rules of the schema's fields, checked on any environment file; each breaks dev.json in one way. */
export const RULES: readonly Rule[] = [
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
    rule: "a schema entry that grants nothing (it would revoke everything)",
    change: (c) => (c.applications[3].schemas.keybuzz_api = { usage: false }),
    field: "applications[3](workers).schemas.keybuzz_api",
    says: "grants nothing",
    got: '{"usage":false}',
  },
  { rule: "an empty host", change: (c) => (c.postgres.host = ""), field: "postgres.host", says: "must not be empty", got: '""' },
  { rule: "a port out of range", change: (c) => (c.postgres.port = 70000), field: "postgres.port", says: "65535", got: "70000" },
  { rule: "a port as a string", change: (c) => (c.postgres.port = "5432"), field: "postgres.port", says: "expected number", got: '"5432"' },
  {
    rule: "a protectData that is not a boolean",
    change: (c) => (c.postgres.protectData = "no"),
    field: "postgres.protectData",
    says: "expected boolean",
    got: '"no"',
  },
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
    rule: "an AppRole method that binds no application",
    change: (c) => (c.auth.approle.bindings = []),
    field: "auth.approle.bindings",
    says: "must bind at least one application",
    got: "[]",
  },
  ...(["serviceAccounts", "namespaces"] as const).map(
    (field): Rule => ({
      rule: `an empty ${field} list`,
      change: (c) => (k8sBinding(c)[field] = []),
      field: `${kubernetes}.${field}`,
      says: `must name at least one ${field === "serviceAccounts" ? "service account" : "namespace"}`,
      got: "[]",
    }),
  ),
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
    rule: "an empty Kubernetes audience",
    change: (c) => (k8sBinding(c).audience = ""),
    field: `${kubernetes}.audience`,
    says: "expected string to have >=1 characters",
    got: '""',
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
  {
    rule: "an empty PostgreSQL CA file name",
    change: (c) => (c.postgres.caCertFile = ""),
    field: "postgres.caCertFile",
    says: "must not be empty",
    got: '""',
  },
];
