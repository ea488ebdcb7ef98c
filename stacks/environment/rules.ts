/**
 * The rules of an environment file that span more than one field, as a table: each row says what it
 * protects and returns its problems, each at the path of the field to change. `CROSS_FIELD_RULES` hold for
 * every environment (the schema applies them); `PRODUCTION_RULES` only for `prod` and `prod-<anything>`.
 */
import { annotationProblem, n8nTlsProblem, templateProblem, templateReads } from "../../constructs/agent-config";
import { workloadProblems } from "../../constructs/kubernetes-workload";
import { LEASE_AUDIT_NAMES } from "../keybuzz-names";
import {
  caWithSslmodeProblem,
  closedDatabaseProblem,
  exceedsProblem,
  idlePoolProblem,
  tokenCutsLeasesProblem,
  VERIFYING_SSLMODES,
  WILDCARD,
} from "../../constructs/vocabulary";
import type { EnvironmentConfig, ParsedEnvironment } from "./schema";

/** One problem: the path of the field to change, what is wrong, and (when the value alone would mislead) what was found. */
export interface Problem {
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** Shown as `(got …)` instead of the field's value. */
  readonly got?: string;
}

/** A row of a rule table: what it protects, and the problems it finds. */
export interface Rule<E> {
  readonly protects: string;
  readonly check: (env: E) => Problem[];
}

const { probeRole, auditRole, fixRole, auditPolicy, fixPolicy, probeBaseRole, auditBaseRole, fixBaseRole } = LEASE_AUDIT_NAMES;
const RESERVED_VAULT_NAMES = new Set<string>([probeRole, auditRole, fixRole, auditPolicy, fixPolicy]);
// the audit's schema too: a base role's default schema is named after it.
const RESERVED_BASE_ROLES = new Set<string>([probeBaseRole, auditBaseRole, fixBaseRole, LEASE_AUDIT_NAMES.sessionsSchema]);

type App = ParsedEnvironment["applications"][number];
const apps = (env: ParsedEnvironment) => env.applications.map((app, index) => ({ app, at: ["applications", index] as (string | number)[] }));
const baseRoles = (env: ParsedEnvironment) => env.applications.map((a) => a.baseRole);

/** Problems of the values of `field` that repeat an earlier application's. */
function duplicates(env: ParsedEnvironment, field: "name" | "baseRole" | "vaultRole", message: (first: App) => string): Problem[] {
  const seen = new Map<string, App>();
  return apps(env).flatMap(({ app, at }) => {
    const first = seen.get(app[field]);
    if (!first) seen.set(app[field], app);
    return first ? [{ path: [...at, field], message: message(first) }] : [];
  });
}

export const CROSS_FIELD_RULES: readonly Rule<ParsedEnvironment>[] = [
  {
    protects: "issued users can log in: the application database is not among the databases closed to PUBLIC",
    check: (env) =>
      env.postgres.closeDatabases.flatMap((name, index) => {
        const problem = closedDatabaseProblem(name, env.postgres.database, "postgres.database");
        return problem ? [{ path: ["postgres", "closeDatabases", index], message: problem }] : [];
      }),
  },
  {
    protects: "one application per name, base role and Vault role",
    check: (env) => [
      ...duplicates(env, "name", () => "duplicates another application's name"),
      ...duplicates(env, "baseRole", (first) => `duplicates the base role of application "${first.name}"`),
      ...duplicates(env, "vaultRole", (first) => `duplicates the Vault role of application "${first.name}"`),
    ],
  },
  {
    protects: "the lease audit's own roles and policies (constructs/lease-audit.ts; a policy is named after its Vault role)",
    check: (env) =>
      apps(env).flatMap(({ app, at }) => [
        ...(RESERVED_VAULT_NAMES.has(app.vaultRole)
          ? [{ path: [...at, "vaultRole"], message: `"${app.vaultRole}" is reserved for the lease audit (npm run leases)` }]
          : []),
        ...(RESERVED_BASE_ROLES.has(app.baseRole)
          ? [{ path: [...at, "baseRole"], message: `"${app.baseRole}" is reserved for the lease audit (npm run leases)` }]
          : []),
        ...Object.keys(app.schemas ?? {})
          .filter((schema) => schema === LEASE_AUDIT_NAMES.sessionsSchema)
          .map((schema) => ({ path: [...at, "schemas", schema], message: `"${schema}" is reserved for the lease audit (npm run leases)` })),
      ]),
  },
  {
    protects: "lease durations: defaultTtl ≤ maxTtl ≤ vault.maxLeaseTtl, and the mount's default ≤ its maximum",
    check: (env) => {
      const problem = (path: (string | number)[], message: string | undefined): Problem[] => (message ? [{ path, message }] : []);
      return [
        ...apps(env).flatMap(({ app, at }) => [
          ...problem([...at, "defaultTtl"], exceedsProblem(app.defaultTtl, app.maxTtl, "maxTtl")),
          ...problem([...at, "maxTtl"], exceedsProblem(app.maxTtl, env.vault.maxLeaseTtl, "vault.maxLeaseTtl")),
        ]),
        ...problem(["vault", "defaultLeaseTtl"], exceedsProblem(env.vault.defaultLeaseTtl, env.vault.maxLeaseTtl, "vault.maxLeaseTtl")),
      ];
    },
  },
  {
    protects: "additional base roles and default-privilege owners are base roles of this file",
    check: (env) => {
      const known = baseRoles(env);
      const unknown = `names an unknown base role; known: ${known.join(", ")}`;
      return apps(env).flatMap(({ app, at }) => [
        ...app.additionalBaseRoles.flatMap((role, i) =>
          !known.includes(role) || role === app.baseRole
            ? [
                {
                  path: [...at, "additionalBaseRoles", i],
                  message: role === app.baseRole ? "repeats the application's own base role, which is always granted" : unknown,
                },
              ]
            : [],
        ),
        ...app.defaultPrivileges.flatMap((dp, i) =>
          known.includes(dp.owner) ? [] : [{ path: [...at, "defaultPrivileges", i, "owner"], message: unknown }],
        ),
      ]);
    },
  },
  {
    protects: "each auth binding names a known application once per method, with tokens that outlive no credential they read",
    check: (env) =>
      (["approle", "kubernetes"] as const).flatMap((method) => {
        const seen = new Set<string>();
        return (env.auth[method]?.bindings ?? []).flatMap((b, i): Problem[] => {
          const at = ["auth", method, "bindings", i];
          const app = env.applications.find((a) => a.name === b.application);
          if (!app) {
            return [
              { path: [...at, "application"], message: `names an unknown application; known: ${env.applications.map((a) => a.name).join(", ")}` },
            ];
          }
          const problems: Problem[] = [];
          if (seen.has(b.application)) problems.push({ path: [...at, "application"], message: `binds the application twice in ${method}` });
          seen.add(b.application);
          for (const field of ["tokenTtl", "tokenMaxTtl"] as const) {
            const v = b[field];
            const message = v === undefined ? undefined : exceedsProblem(v, app.maxTtl, `the credentials' maxTtl of ${b.application}`);
            if (message) problems.push({ path: [...at, field], message });
          }
          const ttlOrder = b.tokenTtl !== undefined && b.tokenMaxTtl !== undefined && exceedsProblem(b.tokenTtl, b.tokenMaxTtl, "tokenMaxTtl");
          if (ttlOrder) problems.push({ path: [...at, "tokenTtl"], message: ttlOrder });
          const cuts =
            b.tokenMaxTtl !== undefined && tokenCutsLeasesProblem(b.tokenMaxTtl, app.defaultTtl, `the credentials' defaultTtl of ${b.application}`);
          if (cuts) problems.push({ path: [...at, "tokenMaxTtl"], message: cuts });
          return problems;
        });
      }),
  },
  {
    protects: "an agent delivers only its application's credentials, over TLS when sslmode asks for it",
    check: (env) =>
      apps(env).flatMap(({ app, at: appAt }) => {
        const at = [...appAt, "agent"];
        const problems: Problem[] = [];
        const credentialsPath = `${env.vault.mountPath}/creds/${app.vaultRole}`;
        const template = app.agent.template;
        const problem = template === undefined ? undefined : templateProblem(template, credentialsPath);
        if (template !== undefined && problem) {
          const other = templateReads(template).find((p) => p !== credentialsPath);
          const owner = env.applications.find((a) => `${env.vault.mountPath}/creds/${a.vaultRole}` === other)?.name;
          problems.push({ path: [...at, "template"], message: owner ? `${problem} (${owner}'s credentials)` : problem });
        }
        const kubernetes = env.auth.kubernetes?.bindings.some((b) => b.application === app.name);
        const bound = kubernetes || env.auth.approle?.bindings.some((b) => b.application === app.name);
        const clear = n8nTlsProblem(app.agent.format, env.postgres.sslmode, env.agent.postgresCaCertPath, {
          sslmode: "postgres.sslmode",
          caCertPath: "agent.postgresCaCertPath",
        });
        if (bound && clear) problems.push({ path: [...at, "format"], message: clear });
        for (const [key, value] of Object.entries(app.agent.annotations)) {
          const refused = kubernetes
            ? annotationProblem(key, value, credentialsPath)
            : "needs a Kubernetes binding of this application (auth.kubernetes.bindings)";
          if (refused) problems.push({ path: [...at, "annotations", key], message: refused });
        }
        return problems;
      }),
  },
  {
    protects: "the pods of the Kubernetes manifests can log in: their namespace, service account and token audience are the binding's",
    check: (env) =>
      (env.auth.kubernetes?.bindings ?? []).flatMap((b, i) =>
        workloadProblems(b, { ...b.workload, tokenExpirationSeconds: b.workload.tokenExpiration }).map((p) => ({
          path: ["auth", "kubernetes", "bindings", i, "workload", p.field === "tokenExpirationSeconds" ? "tokenExpiration" : p.field],
          message: p.message,
          got: JSON.stringify(p.value),
        })),
      ),
  },
  {
    protects: "a CA file is only given where something checks the server against it",
    check: (env) => {
      const problem = env.postgres.caCertFile === undefined ? undefined : caWithSslmodeProblem(env.postgres.sslmode);
      return problem ? [{ path: ["postgres", "caCertFile"], message: `${problem}: set sslmode or remove caCertFile` }] : [];
    },
  },
  {
    protects: "Vault's pool keeps no more idle connections than it may open",
    check: (env) =>
      [idlePoolProblem(env.connection.maxIdleConnections, env.connection.maxOpenConnections)].flatMap((message) =>
        message ? [{ path: ["connection", "maxIdleConnections"], message }] : [],
      ),
  },
];

/** `prod` and `prod-<anything>` (e.g. prod-eu) get the production rules. */
export function isProduction(environment: string): boolean {
  return environment === "prod" || environment.startsWith("prod-");
}

export const PRODUCTION_RULES: readonly Rule<EnvironmentConfig>[] = [
  {
    protects: "TLS to PostgreSQL checks the server's certificate",
    check: (env) =>
      VERIFYING_SSLMODES.has(env.postgres.sslmode)
        ? []
        : [{ path: ["postgres", "sslmode"], message: 'prod must verify the server certificate: use "verify-full" or "verify-ca"' }],
  },
  {
    protects: "a SUPERUSER vault_admin (the runbook's) is a decision someone wrote down",
    check: (env) =>
      env.vaultAdmin.superuser && !env.vaultAdmin.acknowledgeSuperuserInProd
        ? [
            {
              path: ["vaultAdmin", "superuser"],
              message: "a SUPERUSER vault_admin in prod needs vaultAdmin.acknowledgeSuperuserInProd: true",
              got: "superuser: true without it",
            },
          ]
        : [],
  },
  {
    protects: "Vault's token travels over TLS",
    check: (env) => (env.vault.address.startsWith("https://") ? [] : [{ path: ["vault", "address"], message: "prod must use https" }]),
  },
  {
    protects: "pods that may log in are named, not any pod",
    check: (env) =>
      (env.auth.kubernetes?.bindings ?? []).flatMap((b, i) =>
        (["serviceAccounts", "namespaces"] as const).flatMap((field) => {
          const j = b[field].indexOf(WILDCARD);
          const what = field === "namespaces" ? "namespaces" : "service accounts";
          return j >= 0 ? [{ path: ["auth", "kubernetes", "bindings", i, field, j], message: `prod must name its ${what}, not the wildcard` }] : [];
        }),
      ),
  },
];

/** Every problem the cross-field rules find, in table order. */
export function crossFieldProblems(env: ParsedEnvironment): Problem[] {
  return CROSS_FIELD_RULES.flatMap((rule) => rule.check(env));
}

/** Every problem the production rules find (none outside production). */
export function productionProblems(env: EnvironmentConfig): Problem[] {
  return isProduction(env.name) ? PRODUCTION_RULES.flatMap((rule) => rule.check(env)) : [];
}
