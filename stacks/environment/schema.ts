/**
 * The schema of one environment file: every field with its type, default and `.describe()` (the reference
 * `npm run schema` writes to config/schema.json), then the cross-field rules of rules.ts.
 */
import { z } from "zod";
import { AGENT_CONFIG_DEFAULTS, CREDENTIALS_FORMATS } from "../../constructs/agent-config";
import { KUBERNETES_HOST, SSL_MODES, wildcardBindingProblem } from "../../constructs/vocabulary";
import { APPROLE_AUTH_DEFAULTS } from "../../constructs/approle-auth";
import { BASE_ROLES_DEFAULTS } from "../../constructs/base-roles";
import { CONNECTION_DEFAULTS } from "../../constructs/connection";
import { DYNAMIC_ROLE_DEFAULTS } from "../../constructs/dynamic-role";
import { KUBERNETES_AUTH_DEFAULTS } from "../../constructs/kubernetes-auth";
import { KUBERNETES_WORKLOAD_DEFAULTS } from "../../constructs/kubernetes-workload";
import { SECRETS_MOUNT_DEFAULTS } from "../../constructs/secrets-mount";
import { VAULT_ADMIN_DEFAULTS } from "../../constructs/vault-admin";
import { KEYBUZZ_DEFAULTS, LEASE_BUDGET } from "../keybuzz-names";

/** `3600` as `1h`, `300` as `5m`: a default in a field's description, written from the value itself. */
const span = (seconds: number) => (seconds % 3600 === 0 ? `${seconds / 3600}h` : seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`);
import { cidr, duration, hostPath, k8sName, pgIdentifier, sequencePrivilege, tablePrivilege, vaultName } from "./fields";
import { crossFieldProblems } from "./rules";

const schemaAccess = z
  .strictObject({
    owned: z.boolean().default(false).describe("Create this schema, owned by the application's base role (which then holds every right on it)."),
    usage: z.boolean().default(BASE_ROLES_DEFAULTS.schemaUsage).describe("Grant USAGE on the schema (ignored when owned)."),
    create: z.boolean().default(false).describe("Grant CREATE on the schema (ignored when owned)."),
    tables: z.array(tablePrivilege).default([]).describe("Privileges on every table that exists in the schema at apply time (ignored when owned)."),
    sequences: z
      .array(sequencePrivilege)
      .default([])
      .describe("Privileges on every sequence that exists in the schema at apply time (ignored when owned)."),
  })
  .refine(
    (a) => a.owned || a.usage || a.create || a.tables.length > 0 || a.sequences.length > 0,
    "grants nothing: set owned, usage, create, tables or sequences (remove the entry to give no access)",
  )
  .describe("What the base role may do in one schema of the database.");

const defaultPrivilege = z
  .strictObject({
    owner: pgIdentifier.describe("Base role whose future objects this grant covers; must be defined in this file."),
    schema: pgIdentifier.describe("Schema the future objects are created in."),
    tables: z.array(tablePrivilege).default([]).describe("Privileges on tables the owner creates later."),
    sequences: z.array(sequencePrivilege).default([]).describe("Privileges on sequences the owner creates later."),
  })
  .describe("ALTER DEFAULT PRIVILEGES: rights on objects another base role creates later.");

const applicationAgent = z
  .strictObject({
    format: z
      .enum(CREDENTIALS_FORMATS)
      .default(AGENT_CONFIG_DEFAULTS.format)
      .describe(
        `How the credentials are rendered: libpq (pg_service.conf, section named after the application; PGSERVICEFILE + PGSERVICE), chatwoot (env file with POSTGRES_*), n8n (env file with DB_POSTGRESDB_*). Default ${AGENT_CONFIG_DEFAULTS.format}.`,
      ),
    template: z
      .string()
      .min(1)
      .optional()
      .describe("A Go template of your own instead of the format's; it may read only this application's credentials path."),
    command: z
      .array(
        z
          .string()
          .min(1)
          .regex(/^[^\n\r]*$/, "must be one line"),
      )
      .default([])
      .describe(
        'Run by the agent after each render (new credentials), as the agent\'s user, e.g. ["pkill", "-HUP", "-x", "keybuzz-api"]: the application switches to them. Default: none.',
      ),
    annotations: z
      .record(z.string(), z.string())
      .default({})
      .describe("More Vault Agent injector annotations for this application's pods (vault.hashicorp.com/...), e.g. agent-limits-mem. Default: none."),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/, "must be a system user name")
      .optional()
      .describe("User the agent's systemd unit runs as. Default: the application's name."),
  })
  .describe("How the agent delivers this application's credentials (files in <outdir>/stacks/<stack>/agent/<application>/).");

const application = z
  .strictObject({
    name: vaultName.describe("Application name, e.g. keybuzz-api. Also the stable ID of its resources: renaming it replaces them."),
    baseRole: pgIdentifier.describe("The NOLOGIN group role that holds this application's privileges."),
    vaultRole: vaultName.describe("The Vault dynamic role; credentials are read at <mount>/creds/<vaultRole>."),
    defaultTtl: duration
      .default(DYNAMIC_ROLE_DEFAULTS.defaultTtlSeconds)
      .describe(`Lease duration of an issued credential. Default ${span(DYNAMIC_ROLE_DEFAULTS.defaultTtlSeconds)}.`),
    maxTtl: duration
      .default(DYNAMIC_ROLE_DEFAULTS.maxTtlSeconds)
      .describe(`Longest a credential may live, renewals included. Default ${span(DYNAMIC_ROLE_DEFAULTS.maxTtlSeconds)}.`),
    connectionLimit: z
      .number()
      .int()
      .min(1, "must be at least 1 (an issued user with no connection is useless)")
      .default(DYNAMIC_ROLE_DEFAULTS.connectionLimit)
      .describe(
        `Sessions one issued user may hold at once (CONNECTION LIMIT), so that one leaked credential cannot take every slot. Default ${DYNAMIC_ROLE_DEFAULTS.connectionLimit}.`,
      ),
    replicas: z
      .number()
      .int()
      .min(1, "must be at least 1")
      .default(KEYBUZZ_DEFAULTS.replicas)
      .describe(
        `Processes of this application that hold credentials at once in normal operation (pods, or hosts running its agent): what its lease budget is derived from. Default ${KEYBUZZ_DEFAULTS.replicas}.`,
      ),
    leaseBudget: z
      .number()
      .int()
      .min(1, "must be at least 1")
      .optional()
      .describe(
        `The most credentials (active leases) the application may hold at once; past it, the lease audit reports it (over_budget) and KeybuzzLeaseBudgetExceeded fires. Default: ${LEASE_BUDGET.leasesPerProcess * LEASE_BUDGET.overlap} × replicas (per process, its credential and the previous one until its TTL; twice that while a deploy or a restart overlaps old processes).`,
      ),
    additionalBaseRoles: z
      .array(pgIdentifier)
      .default([])
      .describe(
        "Other base roles granted to each issued user besides its own (which always comes first and owns what the user creates); each must be defined in this file. Default: none.",
      ),
    schemas: z
      .record(pgIdentifier, schemaAccess)
      .optional()
      .describe("Per-schema privileges of the base role. Default: one schema named after the base role, owned by it."),
    defaultPrivileges: z.array(defaultPrivilege).default([]).describe("Rights on objects other base roles create later."),
    agent: applicationAgent.prefault({}),
  })
  .describe("One application: its base role, its Vault dynamic role and its privileges.");

const backend = z
  .discriminatedUnion("type", [
    z.strictObject({
      type: z.literal("local"),
      path: z
        .string()
        .refine((p) => !p.startsWith("/"), "must be relative to the project, not absolute")
        .optional()
        .describe("State file, relative to the project root. Default terraform.<stack>.tfstate."),
    }),
    z
      .strictObject({
        type: z.literal("pg"),
        schemaName: pgIdentifier.optional().describe("Schema holding the state. Default terraform_remote_state."),
      })
      .describe("State in PostgreSQL; the connection string comes from PG_CONN_STR in the environment, never from config."),
    z
      .strictObject({
        type: z.literal("s3"),
        bucket: z.string().min(1),
        key: z.string().min(1),
        region: z.string().min(1),
        useLockfile: z.boolean().default(true).describe("S3-native state locking."),
      })
      .describe("State in S3; credentials come from the usual AWS environment."),
    z
      .strictObject({
        type: z.literal("remote"),
        organization: z.string().min(1),
        workspace: z.string().min(1),
        hostname: z.string().default("app.terraform.io"),
      })
      .describe("HCP Terraform; the token comes from the CLI credentials, never from config."),
  ])
  .default({ type: "local" })
  .describe("Where Terraform keeps this environment's state.");

const tokenTtls = {
  tokenTtl: duration.optional().describe("Lifetime of a login token. Default: the application's defaultTtl, capped at tokenMaxTtl."),
  tokenMaxTtl: duration.optional().describe("Longest life of a login token. Default: the application's maxTtl; never above it."),
};

const approleBinding = z
  .strictObject({
    application: vaultName.describe("The application (applications[].name) this AppRole logs in as; also the role name."),
    ...tokenTtls,
    secretIdTtl: duration
      .default(APPROLE_AUTH_DEFAULTS.secretIdTtlSeconds)
      .describe(`Lifetime of a secret ID. Default ${span(APPROLE_AUTH_DEFAULTS.secretIdTtlSeconds)}.`),
    cidrs: z.array(cidr).default([]).describe("Addresses allowed to log in and use the token. Default: any."),
  })
  .describe("One application's AppRole.");

const kubernetesBinding = z
  .strictObject({
    application: vaultName.describe("The application (applications[].name) these pods log in as; also the role name."),
    serviceAccounts: z
      .array(k8sName)
      .min(1, "must name at least one service account")
      .describe('Service accounts allowed to log in ("*" refused in prod).'),
    namespaces: z.array(k8sName).min(1, "must name at least one namespace").describe('Namespaces of those service accounts ("*" refused in prod).'),
    audience: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Required aud claim of the pods' token, which their projected token is minted for. Vault reviews the login with that same token, so the API server must accept it (one of its --api-audiences). Default: none (the API server's own audience).",
      ),
    ...tokenTtls,
    workload: z
      .strictObject({
        namespace: z.string().optional().describe("Namespace the application's pods run in; one of namespaces. Default: the first named one."),
        serviceAccount: z
          .string()
          .optional()
          .describe("ServiceAccount the application's pods run as; one of serviceAccounts. Default: the first named one."),
        audience: z
          .string()
          .min(1)
          .optional()
          .describe("Audience of the pods' projected token; must be the binding's audience. Default: that audience."),
        tokenExpiration: duration
          .default(KUBERNETES_WORKLOAD_DEFAULTS.tokenExpirationSeconds)
          .describe(`Lifetime of the pods' projected token (at least 10m). Default ${span(KUBERNETES_WORKLOAD_DEFAULTS.tokenExpirationSeconds)}.`),
      })
      .prefault({})
      .describe("The pods of the manifests written with the stack (agent/<application>/kubernetes.yaml, deployment-patch.yaml, job-patch.yaml)."),
  })
  .superRefine((b, ctx) => {
    const problem = wildcardBindingProblem(b.serviceAccounts, b.namespaces);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .describe("One application's Kubernetes binding.");

const auth = z
  .strictObject({
    approle: z
      .strictObject({
        path: vaultName.default(APPROLE_AUTH_DEFAULTS.path).describe(`Mount path of the AppRole method. Default ${APPROLE_AUTH_DEFAULTS.path}.`),
        bindings: z.array(approleBinding).min(1, "must bind at least one application"),
      })
      .optional()
      .describe("AppRole, for the workers and anything outside Kubernetes."),
    kubernetes: z
      .strictObject({
        path: vaultName
          .default(KUBERNETES_AUTH_DEFAULTS.path)
          .describe(`Mount path of the Kubernetes method. Default ${KUBERNETES_AUTH_DEFAULTS.path}.`),
        host: z
          .string()
          .regex(KUBERNETES_HOST, "must be the https URL of the Kubernetes API server, without a path (https://10.0.0.50:6443)")
          .describe("The Kubernetes API server, e.g. https://10.0.0.50:6443."),
        caCertFile: z
          .string()
          .min(1)
          .optional()
          .describe("PEM file of the API server's CA, relative to this config file. Default: Vault's trust store."),
        bindings: z.array(kubernetesBinding).min(1, "must bind at least one application"),
      })
      .optional()
      .describe("Kubernetes auth, for pods; no token-reviewer secret: each pod's own JWT reviews its login."),
  })
  .default({})
  .describe("How applications log in to Vault. Each gets a policy reading only its own credentials.");

/** The fields of one environment file, each with its own rules (the cross-field ones are in rules.ts). */
export const environmentFields = z.strictObject({
  $schema: z.string().optional().describe("Editor hint: path to config/schema.json."),
  vault: z.strictObject({
    address: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL such as https://vault.example.com:8200" })
      .describe("Vault (or OpenBao) API address. The token comes from VAULT_TOKEN, never from config."),
    mountPath: vaultName
      .default(SECRETS_MOUNT_DEFAULTS.path)
      .describe(`Path of the database secrets engine. Default ${SECRETS_MOUNT_DEFAULTS.path}.`),
    defaultLeaseTtl: duration
      .default(SECRETS_MOUNT_DEFAULTS.defaultLeaseTtlSeconds)
      .describe(`Mount-wide default lease. Default ${span(SECRETS_MOUNT_DEFAULTS.defaultLeaseTtlSeconds)}.`),
    maxLeaseTtl: duration
      .default(SECRETS_MOUNT_DEFAULTS.maxLeaseTtlSeconds)
      .describe(`Mount-wide maximum lease. Default ${span(SECRETS_MOUNT_DEFAULTS.maxLeaseTtlSeconds)}.`),
  }),
  postgres: z.strictObject({
    host: z.string().min(1, "must not be empty").describe("PostgreSQL endpoint (HAProxy) that Vault and Terraform connect to."),
    port: z.number().int().min(1).max(65535).describe("Port of that endpoint."),
    database: pgIdentifier.default(KEYBUZZ_DEFAULTS.database).describe(`The application database. Default ${KEYBUZZ_DEFAULTS.database}.`),
    sslmode: z
      .enum(SSL_MODES)
      .default(CONNECTION_DEFAULTS.sslmode)
      .describe(`libpq sslmode for every connection. Default ${CONNECTION_DEFAULTS.sslmode}.`),
    caCertFile: z
      .string()
      .min(1, "must not be empty (remove the field to trust the system store)")
      .optional()
      .describe(
        "PEM file of the CA that signed the server's certificate, relative to this config file; needs sslmode verify-ca or verify-full. Vault gets the PEM (tls_ca), Terraform's provider the path (sslrootcert). Default: the system trust store.",
      ),
    adminUsername: z
      .string()
      .min(1)
      .default("postgres")
      .describe("Role Terraform connects as to manage roles. Its password comes from PGPASSWORD, never from config."),
    closeDatabases: z
      .array(pgIdentifier)
      .default([...BASE_ROLES_DEFAULTS.closeDatabases])
      .describe(
        `Other databases of the cluster that PUBLIC loses CONNECT on, so that issued users stay in the application database (elsewhere they could own something their revocation cannot drop). Roles that need one get CONNECT there explicitly. Default ${JSON.stringify(BASE_ROLES_DEFAULTS.closeDatabases).replace(/,/g, ", ")}.`,
      ),
    protectData: z
      .boolean()
      .default(BASE_ROLES_DEFAULTS.protectData)
      .describe(
        "Keep Terraform from dropping the application database and its schemas (prevent_destroy): a destroy, or a change that would replace one, fails before anything is touched. Set false only where the data may go (local, or to tear an environment down on purpose); then a destroy drops the schemas with their tables. Default true.",
      ),
  }),
  vaultAdmin: z
    .strictObject({
      reservedConnections: z
        .boolean()
        .default(VAULT_ADMIN_DEFAULTS.reservedConnections)
        .describe(
          "PostgreSQL 16 and later, with reserved_connections set in postgresql.conf: make vault_admin a member of pg_use_reserved_connections, so Vault still connects, and revokes, when issued users hold every other slot. Leave false on PostgreSQL 15, which has no such role. Default false.",
        ),
      username: pgIdentifier
        .default(VAULT_ADMIN_DEFAULTS.username)
        .describe(`The LOGIN role Vault connects as. Default ${VAULT_ADMIN_DEFAULTS.username}.`),
      superuser: z
        .boolean()
        .default(VAULT_ADMIN_DEFAULTS.superuser)
        .describe(
          "Reproduce the runbook: vault_admin as SUPERUSER. Default false: no role attribute, only EXECUTE on the functions that create, renew and drop issued users.",
        ),
      acknowledgeSuperuserInProd: z.boolean().default(false).describe("Required (true) to run a SUPERUSER vault_admin in prod."),
      passwordVersion: z
        .number()
        .int()
        .positive()
        .default(VAULT_ADMIN_DEFAULTS.passwordVersion)
        .describe("Bump to push a new vault_admin_password to PostgreSQL and Vault (write-only attributes)."),
    })
    .prefault({}),
  connection: z
    .strictObject({
      name: vaultName.default(KEYBUZZ_DEFAULTS.connectionName).describe(`Vault connection name. Default ${KEYBUZZ_DEFAULTS.connectionName}.`),
      maxOpenConnections: z
        .number()
        .int()
        .positive()
        .default(CONNECTION_DEFAULTS.maxOpenConnections)
        .describe(
          `Vault's pool size. Default ${CONNECTION_DEFAULTS.maxOpenConnections}, as Vault's: its PostgreSQL plugin creates users one at a time, so more buys nothing (BENCHMARKS.md).`,
        ),
      maxIdleConnections: z
        .number()
        .int()
        .nonnegative()
        .default(CONNECTION_DEFAULTS.maxIdleConnections)
        .describe(`Idle connections kept. Default ${CONNECTION_DEFAULTS.maxIdleConnections}.`),
      maxConnectionLifetime: duration
        .default(CONNECTION_DEFAULTS.maxConnectionLifetimeSeconds)
        .describe(`Recycle pooled connections after this. Default ${span(CONNECTION_DEFAULTS.maxConnectionLifetimeSeconds)}.`),
    })
    .prefault({}),
  backend,
  auth,
  agent: z
    .strictObject({
      configDirectory: hostPath
        .default(KEYBUZZ_DEFAULTS.agentConfigDirectory)
        .describe(`On each host: <dir>/<application>/ holds agent.hcl, role-id and secret-id. Default ${KEYBUZZ_DEFAULTS.agentConfigDirectory}.`),
      runDirectory: hostPath
        .default(KEYBUZZ_DEFAULTS.agentRunDirectory)
        .describe(
          `On each host: <dir>/<application>/ holds the agent's token and the rendered credentials; keep it on tmpfs. Default ${KEYBUZZ_DEFAULTS.agentRunDirectory}.`,
        ),
      binary: hostPath
        .default(AGENT_CONFIG_DEFAULTS.binary)
        .describe(`The agent program (vault, or OpenBao's bao). Default ${AGENT_CONFIG_DEFAULTS.binary}.`),
      vaultCaCertPath: hostPath.optional().describe("On each host: the CA that signed Vault's certificate. Default: the system trust store."),
      postgresCaCertPath: hostPath
        .optional()
        .describe("On each host: the CA that signed PostgreSQL's certificate (sslrootcert). Default: libpq's ~/.postgresql/root.crt."),
    })
    .prefault({})
    .describe("Where Vault Agent runs on the application hosts; see docs/applications.md."),
  applications: z.array(application).min(1, "must define at least one application").describe("The applications. Adding one is one entry here."),
});

/** An environment file as the schema reads it, before the cross-field rules. */
export type ParsedEnvironment = z.output<typeof environmentFields>;

/** The schema of one environment file: its fields, then every cross-field rule, each issue at its field's path. */
export const environmentSchema = environmentFields.superRefine((env, ctx) => {
  for (const problem of crossFieldProblems(env)) ctx.addIssue({ code: "custom", path: [...problem.path], message: problem.message });
});

/** A validated environment, with every default filled in. */
export type EnvironmentConfig = ParsedEnvironment & {
  /** The environment name: the config file's base name (`prod` for `config/prod.json`). */
  readonly name: string;
  /** The file it was read from, relative to the working directory, for messages. */
  readonly file: string;
  /** The PEM read from auth.kubernetes.caCertFile, if any. */
  readonly kubernetesCaCert?: string;
  /** The CA read from postgres.caCertFile, if any: its PEM and where it is. */
  readonly postgresCaCert?: CaCertificate;
};

/** A CA certificate read from a config-relative file. */
export interface CaCertificate {
  /** The PEM text. */
  readonly pem: string;
  /** The file's absolute path (resolved against the config file's folder). */
  readonly path: string;
}
export type ApplicationConfig = z.output<typeof application>;
