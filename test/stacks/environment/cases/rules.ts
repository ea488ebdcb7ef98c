/**
 * Ways to break dev.json and prod.json that the rule tables of stacks/environment/rules.ts refuse: the
 * cross-field rules, on any environment file, and the production rules, on prod.json only.
 */
import type { TfJson } from "../../../helpers";
import { api, approle, AUTH_METHODS, firstBinding, k8sBinding, kubernetes, type Rule } from "../fixture";

/** Cross-field rules, checked on any environment file; each breaks dev.json in one way. */
export const RULES: readonly Rule[] = [
  {
    rule: "the application database among the closed ones",
    change: (c) => (c.postgres.closeDatabases = ["keybuzz"]),
    field: "postgres.closeDatabases[0]",
    says: 'must not name the application database (postgres.database "keybuzz")',
    got: '"keybuzz"',
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
    rule: "a default-privileges owner naming an unknown base role",
    change: (c) => (c.applications[3].defaultPrivileges[0].owner = "billing"),
    field: "applications[3](workers).defaultPrivileges[0].owner",
    says: "names an unknown base role; known: keybuzz_api, chatwoot, n8n, keybuzz_workers",
    got: '"billing"',
  },
  {
    rule: "more idle than open connections",
    change: (c) => (c.connection.maxIdleConnections = 5),
    field: "connection.maxIdleConnections",
    says: "must not exceed maxOpenConnections (4)",
    got: "5",
  },
  ...AUTH_METHODS.flatMap((method): Rule[] => {
    const { binding, at, app } = firstBinding(method);
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
    ];
  }),
  ...["disable", "allow", "prefer", "require"].map((mode) => ({
    rule: `a PostgreSQL CA file with sslmode ${mode}, which would not check the server against it`,
    change: (c: TfJson) => Object.assign(c.postgres, { sslmode: mode, caCertFile: "pg/ca.pem" }),
    field: "postgres.caCertFile",
    says: `is used only with sslmode "verify-full" or "verify-ca"; with sslmode "${mode}" nothing would check the server against it`,
    got: '"pg/ca.pem"',
  })),
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
];

/** Rules only prod.json must follow; each breaks prod.json in one way. */
export const PROD_RULES: readonly Rule[] = [
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
