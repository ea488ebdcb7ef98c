/**
 * Ways to break dev.json whose problem stacks/environment/errors.ts words itself: a missing field ("is
 * required"), an unknown one (one line per field, with its value) and a bad name used as a key.
 */
import { api, AUTH_METHODS, firstBinding, IDENTIFIER, k8sBinding, kubernetes, type Rule } from "../fixture";

/** Problems errors.ts words, checked on any environment file; each breaks dev.json in one way. */
export const RULES: readonly Rule[] = [
  {
    rule: "an unsafe schema name",
    change: (c) => (c.applications[3].schemas["Api Schema"] = {}),
    field: "applications[3](workers).schemas.Api Schema",
    says: IDENTIFIER,
    got: '"Api Schema"',
  },
  { rule: "a missing host", change: (c) => delete c.postgres.host, field: "postgres.host", says: "is required", got: "missing" },
  { rule: "a missing port", change: (c) => delete c.postgres.port, field: "postgres.port", says: "is required", got: "missing" },
  { rule: "a missing Vault address", change: (c) => delete c.vault.address, field: "vault.address", says: "is required", got: "missing" },
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
  ...AUTH_METHODS.map((method): Rule => {
    const { binding, at } = firstBinding(method);
    return {
      rule: `an unknown field in a ${method} binding`,
      change: (c) => (binding(c).tokenTTL = "1h"),
      field: `${at}.tokenTTL`,
      says: "unknown field",
      got: '"1h"',
    };
  }),
  ...(["serviceAccounts", "namespaces"] as const).map(
    (field): Rule => ({
      rule: `a missing ${field}`,
      change: (c) => delete k8sBinding(c)[field],
      field: `${kubernetes}.${field}`,
      says: "is required",
      got: "missing",
    }),
  ),
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
    rule: "an unknown auth method",
    change: (c) => (c.auth.userpass = {}),
    field: "auth.userpass",
    says: "unknown field",
    got: "{}",
  },
];
