/**
 * The environment config: one JSON file per environment in `config/`, validated by one zod schema.
 *
 * The schema is the reference for every field (each has a `.describe()`); `npm run schema` writes it as
 * JSON Schema to `config/schema.json` so editors complete and check the files. Errors name the file, the
 * field path and the value, and say what would be accepted.
 */
import { readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { z } from "zod";
import { annotationProblem, templateProblem, templateReads } from "../constructs/agent-config";
import { isCidr } from "../constructs/approle-auth";
import { ENCRYPTING_SSLMODES, VERIFYING_SSLMODES } from "../constructs/connection";
import { LEASE_AUDIT_NAMES } from "../constructs/lease-audit";
import { VAULT_NAME } from "../constructs/names";

const { probeRole, auditRole, fixRole, auditPolicy, fixPolicy, probeBaseRole, auditBaseRole, fixBaseRole } = LEASE_AUDIT_NAMES;
const RESERVED_VAULT_NAMES = new Set<string>([probeRole, auditRole, fixRole, auditPolicy, fixPolicy]);
const RESERVED_BASE_ROLES = new Set<string>([probeBaseRole, auditBaseRole, fixBaseRole]);

/** A safe, unquoted PostgreSQL identifier: lower case, digits and `_`, at most 63 bytes, not `pg_`-reserved. */
const pgIdentifier = z
  .string()
  .regex(
    /^[a-z_][a-z0-9_]*$/,
    "must be a lower-case PostgreSQL identifier: letters a-z, digits and _, not starting with a digit (no quotes, semicolons, spaces or upper case)",
  )
  .max(63, "must be at most 63 bytes, PostgreSQL's identifier limit")
  .refine((s) => !s.startsWith("pg_"), "must not start with pg_, which PostgreSQL reserves for its own roles");

/** A Vault role or connection name: it becomes one path segment (`database/roles/<name>`). */
const vaultName = z
  .string()
  .regex(
    VAULT_NAME,
    "must be a Vault path segment: lower-case letters, digits and -, starting and ending with a letter or digit",
  )
  .max(64, "must be at most 64 characters");

const DURATION = /^(\d+h)?(\d+m)?(\d+s)?$/;

/** Parses `90`, `"90s"`, `"15m"`, `"1h"` or `"1h30m"` into seconds; returns NaN for anything else. */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") return Number.isInteger(value) ? value : Number.NaN;
  const m = DURATION.exec(value);
  if (!m || value === "") return Number.NaN;
  const [h, mi, s] = [m[1], m[2], m[3]].map((p) => (p ? Number.parseInt(p, 10) : 0));
  return h * 3600 + mi * 60 + s;
}

const DURATION_HINT = 'must be a positive duration: whole seconds (3600) or a string like "90s", "15m", "1h", "1h30m"';

/** A positive duration, written as whole seconds or as a Go-style string (`"1h"`, `"30m"`, `"1h30m"`). */
const duration = z
  .union([z.number(), z.string()], { error: DURATION_HINT })
  .transform((v, ctx) => {
    const seconds = parseDuration(v);
    if (Number.isNaN(seconds) || seconds <= 0) {
      ctx.addIssue({ code: "custom", message: DURATION_HINT });
      return z.NEVER;
    }
    return seconds;
  });

const tablePrivilege = z.enum(["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]);
const sequencePrivilege = z.enum(["USAGE", "SELECT", "UPDATE"]);

const schemaAccess = z
  .strictObject({
    owned: z
      .boolean()
      .default(false)
      .describe("Create this schema, owned by the application's base role (which then holds every right on it)."),
    usage: z.boolean().default(true).describe("Grant USAGE on the schema (ignored when owned)."),
    create: z.boolean().default(false).describe("Grant CREATE on the schema (ignored when owned)."),
    tables: z
      .array(tablePrivilege)
      .default([])
      .describe("Privileges on every table that exists in the schema at apply time (ignored when owned)."),
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

/** An absolute path on an application's host: letters, digits and `._/-` (it goes into HCL and unit files). */
const hostPath = z.string().regex(/^\/[A-Za-z0-9._/-]*$/, "must be an absolute path of letters, digits and ._/- (no spaces or quotes)");

const applicationAgent = z
  .strictObject({
    format: z
      .enum(["libpq", "chatwoot", "n8n"])
      .default("libpq")
      .describe(
        "How the credentials are rendered: libpq (pg_service.conf, section named after the application; PGSERVICEFILE + PGSERVICE), chatwoot (env file with POSTGRES_*), n8n (env file with DB_POSTGRESDB_*). Default libpq.",
      ),
    template: z
      .string()
      .min(1)
      .optional()
      .describe("A Go template of your own instead of the format's; it may read only this application's credentials path."),
    command: z
      .array(z.string().min(1).regex(/^[^\n\r]*$/, "must be one line"))
      .default([])
      .describe("Run by the agent after each render (new credentials), as the agent's user, e.g. [\"pkill\", \"-HUP\", \"-x\", \"keybuzz-api\"]: the application switches to them. Default: none."),
    annotations: z
      .record(z.string(), z.string())
      .default({})
      .describe("More Vault Agent injector annotations for this application's pods (vault.hashicorp.com/...), e.g. agent-limits-mem. Default: none."),
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a system user name").optional().describe("User the agent's systemd unit runs as. Default: the application's name."),
  })
  .describe("How the agent delivers this application's credentials (files in <outdir>/stacks/<stack>/agent/<application>/).");

const application = z
  .strictObject({
    name: vaultName.describe("Application name, e.g. keybuzz-api. Also the stable ID of its resources: renaming it replaces them."),
    baseRole: pgIdentifier.describe("The NOLOGIN group role that holds this application's privileges."),
    vaultRole: vaultName.describe("The Vault dynamic role; credentials are read at <mount>/creds/<vaultRole>."),
    defaultTtl: duration.default(3600).describe("Lease duration of an issued credential. Default 1h."),
    maxTtl: duration.default(86400).describe("Longest a credential may live, renewals included. Default 24h."),
    connectionLimit: z
      .number()
      .int()
      .min(1, "must be at least 1 (an issued user with no connection is useless)")
      .default(20)
      .describe("Sessions one issued user may hold at once (CONNECTION LIMIT), so that one leaked credential cannot take every slot. Default 20."),
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
    agent: applicationAgent.default({ format: "libpq", command: [], annotations: {} }),
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
    z.strictObject({
      type: z.literal("pg"),
      schemaName: pgIdentifier.optional().describe("Schema holding the state. Default terraform_remote_state."),
    }).describe("State in PostgreSQL; the connection string comes from PG_CONN_STR in the environment, never from config."),
    z.strictObject({
      type: z.literal("s3"),
      bucket: z.string().min(1),
      key: z.string().min(1),
      region: z.string().min(1),
      useLockfile: z.boolean().default(true).describe("S3-native state locking."),
    }).describe("State in S3; credentials come from the usual AWS environment."),
    z.strictObject({
      type: z.literal("remote"),
      organization: z.string().min(1),
      workspace: z.string().min(1),
      hostname: z.string().default("app.terraform.io"),
    }).describe("HCP Terraform; the token comes from the CLI credentials, never from config."),
  ])
  .default({ type: "local" })
  .describe("Where Terraform keeps this environment's state.");

const cidr = z.string().refine(isCidr, "must be an IPv4 CIDR block such as 10.0.0.0/24 (no leading zeros)");

/** A Kubernetes name: not empty, no surrounding spaces. */
const k8sName = z
  .string()
  .min(1, "must not be empty")
  .refine((v) => v === v.trim(), "must not be blank or space-padded");

const tokenTtls = {
  tokenTtl: duration.optional().describe("Lifetime of a login token. Default: the application's defaultTtl, capped at tokenMaxTtl."),
  tokenMaxTtl: duration.optional().describe("Longest life of a login token. Default: the application's maxTtl; never above it."),
};

const approleBinding = z
  .strictObject({
    application: vaultName.describe("The application (applications[].name) this AppRole logs in as; also the role name."),
    ...tokenTtls,
    secretIdTtl: duration.default(86400).describe("Lifetime of a secret ID. Default 24h."),
    cidrs: z.array(cidr).default([]).describe("Addresses allowed to log in and use the token. Default: any."),
  })
  .describe("One application's AppRole.");

const kubernetesBinding = z
  .strictObject({
    application: vaultName.describe("The application (applications[].name) these pods log in as; also the role name."),
    serviceAccounts: z
      .array(k8sName)
      .min(1, "must name at least one service account")
      .describe("Service accounts allowed to log in (\"*\" refused in prod)."),
    namespaces: z
      .array(k8sName)
      .min(1, "must name at least one namespace")
      .describe("Namespaces of those service accounts (\"*\" refused in prod)."),
    audience: z.string().min(1).optional().describe("Required aud claim of the service-account token."),
    ...tokenTtls,
  })
  .refine((b) => !(b.serviceAccounts.includes("*") && b.namespaces.includes("*")), {
    message: 'serviceAccounts and namespaces must not both be the wildcard "*" (Vault refuses it: any pod could log in)',
  })
  .describe("One application's Kubernetes binding.");

const auth = z
  .strictObject({
    approle: z
      .strictObject({
        path: vaultName.default("approle").describe("Mount path of the AppRole method. Default approle."),
        bindings: z.array(approleBinding).min(1, "must bind at least one application"),
      })
      .optional()
      .describe("AppRole, for the workers and anything outside Kubernetes."),
    kubernetes: z
      .strictObject({
        path: vaultName.default("kubernetes").describe("Mount path of the Kubernetes method. Default kubernetes."),
        host: z
          .string()
          .regex(/^https:\/\/[^\s/]+(:\d+)?\/?$/, "must be the https URL of the Kubernetes API server, without a path (https://10.0.0.50:6443)")
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

const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;

/** The schema of one environment file. */
export const environmentSchema = z
  .strictObject({
    $schema: z.string().optional().describe("Editor hint: path to config/schema.json."),
    vault: z.strictObject({
      address: z
        .url({ protocol: /^https?$/, error: "must be an http(s) URL such as https://vault.example.com:8200" })
        .describe("Vault (or OpenBao) API address. The token comes from VAULT_TOKEN, never from config."),
      mountPath: vaultName.default("database").describe("Path of the database secrets engine. Default database."),
      defaultLeaseTtl: duration.default(3600).describe("Mount-wide default lease. Default 1h."),
      maxLeaseTtl: duration.default(86400).describe("Mount-wide maximum lease. Default 24h."),
    }),
    postgres: z.strictObject({
      host: z.string().min(1, "must not be empty").describe("PostgreSQL endpoint (HAProxy) that Vault and Terraform connect to."),
      port: z.number().int().min(1).max(65535).describe("Port of that endpoint."),
      database: pgIdentifier.default("keybuzz").describe("The application database. Default keybuzz."),
      sslmode: z.enum(SSL_MODES).default("verify-full").describe("libpq sslmode for every connection. Default verify-full."),
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
        .default(["postgres", "template1"])
        .describe(
          "Other databases of the cluster that PUBLIC loses CONNECT on, so that issued users stay in the application database (elsewhere they could own something their revocation cannot drop). Roles that need one get CONNECT there explicitly. Default [\"postgres\", \"template1\"].",
        ),
      protectData: z
        .boolean()
        .default(true)
        .describe(
          "Keep Terraform from dropping the application database and its schemas (prevent_destroy): a destroy, or a change that would replace one, fails before anything is touched. Set false only where the data may go (local, or to tear an environment down on purpose); then a destroy drops the schemas with their tables. Default true.",
        ),
    }),
    vaultAdmin: z
      .strictObject({
        reservedConnections: z
          .boolean()
          .default(false)
          .describe(
            "PostgreSQL 16 and later, with reserved_connections set in postgresql.conf: make vault_admin a member of pg_use_reserved_connections, so Vault still connects, and revokes, when issued users hold every other slot. Leave false on PostgreSQL 15, which has no such role. Default false.",
          ),
        username: pgIdentifier.default("vault_admin").describe("The LOGIN role Vault connects as. Default vault_admin."),
        superuser: z
          .boolean()
          .default(false)
          .describe("Reproduce the runbook: vault_admin as SUPERUSER. Default false: no role attribute, only EXECUTE on the functions that create, renew and drop issued users."),
        acknowledgeSuperuserInProd: z
          .boolean()
          .default(false)
          .describe("Required (true) to run a SUPERUSER vault_admin in prod."),
        passwordVersion: z
          .number()
          .int()
          .positive()
          .default(1)
          .describe("Bump to push a new vault_admin_password to PostgreSQL and Vault (write-only attributes)."),
      })
      .default({ username: "vault_admin", superuser: false, acknowledgeSuperuserInProd: false, passwordVersion: 1, reservedConnections: false }),
    connection: z
      .strictObject({
        name: vaultName.default("keybuzz-postgres").describe("Vault connection name. Default keybuzz-postgres."),
        maxOpenConnections: z
          .number()
          .int()
          .positive()
          .default(4)
          .describe("Vault's pool size. Default 4, as Vault's: its PostgreSQL plugin creates users one at a time, so more buys nothing (BENCHMARKS.md)."),
        maxIdleConnections: z.number().int().nonnegative().default(4).describe("Idle connections kept. Default 4."),
        maxConnectionLifetime: duration.default(300).describe("Recycle pooled connections after this. Default 5m."),
      })
      .default({ name: "keybuzz-postgres", maxOpenConnections: 4, maxIdleConnections: 4, maxConnectionLifetime: 300 }),
    backend,
    auth,
    agent: z
      .strictObject({
        configDirectory: hostPath.default("/etc/keybuzz-agent").describe("On each host: <dir>/<application>/ holds agent.hcl, role-id and secret-id. Default /etc/keybuzz-agent."),
        runDirectory: hostPath
          .default("/run/keybuzz-agent")
          .describe("On each host: <dir>/<application>/ holds the agent's token and the rendered credentials; keep it on tmpfs. Default /run/keybuzz-agent."),
        binary: hostPath.default("/usr/bin/vault").describe("The agent program (vault, or OpenBao's bao). Default /usr/bin/vault."),
        vaultCaCertPath: hostPath.optional().describe("On each host: the CA that signed Vault's certificate. Default: the system trust store."),
        postgresCaCertPath: hostPath.optional().describe("On each host: the CA that signed PostgreSQL's certificate (sslrootcert). Default: libpq's ~/.postgresql/root.crt."),
      })
      .default({ configDirectory: "/etc/keybuzz-agent", runDirectory: "/run/keybuzz-agent", binary: "/usr/bin/vault" })
      .describe("Where Vault Agent runs on the application hosts; see the README's \"Using the credentials in an application\"."),
    applications: z
      .array(application)
      .min(1, "must define at least one application")
      .describe("The applications. Adding one is one entry here."),
  })
  .superRefine((env, ctx) => {
    // cross-field rules: each issue carries the path of the offending field.
    env.postgres.closeDatabases.forEach((name, index) => {
      if (name === env.postgres.database) {
        ctx.addIssue({
          code: "custom",
          path: ["postgres", "closeDatabases", index],
          message: `must not name the application database (postgres.database "${name}"), which issued users log in to`,
        });
      }
    });
    const seenName = new Set<string>();
    const seenBase = new Map<string, string>();
    const seenVault = new Map<string, string>();
    env.applications.forEach((app, index) => {
      const at = ["applications", index];
      if (seenName.has(app.name)) {
        ctx.addIssue({ code: "custom", path: [...at, "name"], message: "duplicates another application's name" });
      }
      seenName.add(app.name);
      const dupBase = seenBase.get(app.baseRole);
      if (dupBase) {
        ctx.addIssue({ code: "custom", path: [...at, "baseRole"], message: `duplicates the base role of application "${dupBase}"` });
      }
      seenBase.set(app.baseRole, app.name);
      const dupVault = seenVault.get(app.vaultRole);
      if (dupVault) {
        ctx.addIssue({ code: "custom", path: [...at, "vaultRole"], message: `duplicates the Vault role of application "${dupVault}"` });
      }
      seenVault.set(app.vaultRole, app.name);
      // the lease audit's own roles and policies (constructs/lease-audit.ts); an application's policy is named after its Vault role.
      if (RESERVED_VAULT_NAMES.has(app.vaultRole)) {
        ctx.addIssue({ code: "custom", path: [...at, "vaultRole"], message: `"${app.vaultRole}" is reserved for the lease audit (npm run leases)` });
      }
      if (RESERVED_BASE_ROLES.has(app.baseRole)) {
        ctx.addIssue({ code: "custom", path: [...at, "baseRole"], message: `"${app.baseRole}" is reserved for the lease audit (npm run leases)` });
      }
      if (app.defaultTtl > app.maxTtl) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "defaultTtl"],
          message: `must not exceed maxTtl: ${app.defaultTtl}s > ${app.maxTtl}s`,
        });
      }
      if (app.maxTtl > env.vault.maxLeaseTtl) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "maxTtl"],
          message: `must not exceed vault.maxLeaseTtl: ${app.maxTtl}s > ${env.vault.maxLeaseTtl}s`,
        });
      }
    });
    env.applications.forEach((app, index) => {
      app.additionalBaseRoles.forEach((role, i) => {
        if (!seenBase.has(role) || role === app.baseRole) {
          ctx.addIssue({
            code: "custom",
            path: ["applications", index, "additionalBaseRoles", i],
            message:
              role === app.baseRole
                ? "repeats the application's own base role, which is always granted"
                : `names an unknown base role; known: ${[...seenBase.keys()].join(", ")}`,
          });
        }
      });
      app.defaultPrivileges.forEach((dp, i) => {
        if (!seenBase.has(dp.owner)) {
          ctx.addIssue({
            code: "custom",
            path: ["applications", index, "defaultPrivileges", i, "owner"],
            message: `names an unknown base role; known: ${[...seenBase.keys()].join(", ")}`,
          });
        }
      });
    });
    for (const method of ["approle", "kubernetes"] as const) {
      const seen = new Set<string>();
      (env.auth[method]?.bindings ?? []).forEach((b, i) => {
        const at = ["auth", method, "bindings", i];
        const app = env.applications.find((a) => a.name === b.application);
        if (!app) {
          ctx.addIssue({
            code: "custom",
            path: [...at, "application"],
            message: `names an unknown application; known: ${env.applications.map((a) => a.name).join(", ")}`,
          });
          return;
        }
        if (seen.has(b.application)) {
          ctx.addIssue({ code: "custom", path: [...at, "application"], message: `binds the application twice in ${method}` });
        }
        seen.add(b.application);
        for (const field of ["tokenTtl", "tokenMaxTtl"] as const) {
          const v = b[field];
          if (v !== undefined && v > app.maxTtl) {
            ctx.addIssue({
              code: "custom",
              path: [...at, field],
              message: `must not exceed the credentials' maxTtl of ${b.application}: ${v}s > ${app.maxTtl}s`,
            });
          }
        }
        if (b.tokenTtl !== undefined && b.tokenMaxTtl !== undefined && b.tokenTtl > b.tokenMaxTtl) {
          ctx.addIssue({ code: "custom", path: [...at, "tokenTtl"], message: `must not exceed tokenMaxTtl: ${b.tokenTtl}s > ${b.tokenMaxTtl}s` });
        }
        if (b.tokenMaxTtl !== undefined && b.tokenMaxTtl < app.defaultTtl) {
          ctx.addIssue({
            code: "custom",
            path: [...at, "tokenMaxTtl"],
            message: `must be at least the credentials' defaultTtl of ${b.application} (${app.defaultTtl}s): Vault revokes credentials with the token that read them, so the agent's token would cut every lease short`,
          });
        }
      });
    }
    env.applications.forEach((app, index) => {
      const at = ["applications", index, "agent"];
      const credentialsPath = `${env.vault.mountPath}/creds/${app.vaultRole}`;
      const problem = app.agent.template === undefined ? undefined : templateProblem(app.agent.template, credentialsPath);
      if (problem) {
        const other = templateReads(app.agent.template!).find((p) => p !== credentialsPath);
        const owner = env.applications.find((a) => `${env.vault.mountPath}/creds/${a.vaultRole}` === other)?.name;
        ctx.addIssue({ code: "custom", path: [...at, "template"], message: owner ? `${problem} (${owner}'s credentials)` : problem });
      }
      const kubernetes = env.auth.kubernetes?.bindings.some((b) => b.application === app.name);
      const bound = kubernetes || env.auth.approle?.bindings.some((b) => b.application === app.name);
      if (bound && app.agent.format === "n8n" && ENCRYPTING_SSLMODES.has(env.postgres.sslmode) && !env.agent.postgresCaCertPath) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "format"],
          message: `n8n uses TLS only when given a CA: with postgres.sslmode "${env.postgres.sslmode}" set agent.postgresCaCertPath, or n8n would connect in clear`,
        });
      }
      for (const [key, value] of Object.entries(app.agent.annotations)) {
        const refused = kubernetes
          ? annotationProblem(key, value, credentialsPath)
          : "needs a Kubernetes binding of this application (auth.kubernetes.bindings)";
        if (refused) ctx.addIssue({ code: "custom", path: [...at, "annotations", key], message: refused });
      }
    });
    if (env.vault.defaultLeaseTtl > env.vault.maxLeaseTtl) {
      ctx.addIssue({
        code: "custom",
        path: ["vault", "defaultLeaseTtl"],
        message: `must not exceed vault.maxLeaseTtl: ${env.vault.defaultLeaseTtl}s > ${env.vault.maxLeaseTtl}s`,
      });
    }
    if (env.postgres.caCertFile !== undefined && !VERIFYING_SSLMODES.has(env.postgres.sslmode)) {
      ctx.addIssue({
        code: "custom",
        path: ["postgres", "caCertFile"],
        message: `is used only with sslmode "verify-full" or "verify-ca"; with sslmode "${env.postgres.sslmode}" nothing would check the server against it: set sslmode or remove caCertFile`,
      });
    }
    if (env.connection.maxIdleConnections > env.connection.maxOpenConnections) {
      ctx.addIssue({
        code: "custom",
        path: ["connection", "maxIdleConnections"],
        message: `must not exceed maxOpenConnections (${env.connection.maxOpenConnections})`,
      });
    }
  });

/** A validated environment, with every default filled in. */
export type EnvironmentConfig = z.output<typeof environmentSchema> & {
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

/** Thrown when one or more environment files are invalid; `message` lists every problem, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

/** `prod` and `prod-<anything>` (e.g. prod-eu) get the production rules. */
export function isProduction(environment: string): boolean {
  return environment === "prod" || environment.startsWith("prod-");
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = data;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** `applications[1](chatwoot).maxTtl`: indexes in brackets, and an application's name beside its index. */
function formatPath(data: unknown, path: readonly PropertyKey[]): string {
  let out = "";
  path.forEach((p, i) => {
    if (typeof p === "number") {
      out += `[${p}]`;
      // name the element: an application by its name, a binding by its application.
      const element = valueAt(data, path.slice(0, i + 1)) as { name?: unknown; application?: unknown } | undefined;
      const label = i === 1 && path[0] === "applications" ? element?.name : path[i - 1] === "bindings" ? element?.application : undefined;
      if (typeof label === "string") out += `(${label})`;
    } else {
      out += out ? `.${String(p)}` : String(p);
    }
  });
  return out || "(root)";
}

function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  const json = JSON.stringify(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

/** Formats zod issues as `file: field: message (got value)` lines. */
function formatIssues(file: string, data: unknown, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      // one line per key, with its value, like every other problem.
      return issue.keys.map((k) => {
        const path = [...issue.path, k];
        return `${file}: ${formatPath(data, path)}: unknown field (check the spelling; see config/schema.json) (got ${describeValue(valueAt(data, path))})`;
      });
    }
    if (issue.code === "invalid_key") {
      // a record key (a schema name) is the bad value: say why, from the key's own issues.
      const key = issue.path[issue.path.length - 1];
      const why = issue.issues.map((i) => i.message).join("; ");
      return [`${file}: ${formatPath(data, issue.path)}: invalid name: ${why} (got ${describeValue(key)})`];
    }
    const value = valueAt(data, issue.path);
    const message = issue.code === "invalid_type" && value === undefined ? "is required" : issue.message;
    return [`${file}: ${formatPath(data, issue.path)}: ${message} (got ${describeValue(value)})`];
  });
}

/** Rules that depend on which environment the file describes, not only on its content. */
function environmentRules(env: EnvironmentConfig): string[] {
  const problems: string[] = [];
  if (isProduction(env.name)) {
    if (!VERIFYING_SSLMODES.has(env.postgres.sslmode)) {
      problems.push(
        `${env.file}: postgres.sslmode: prod must verify the server certificate: use "verify-full" or "verify-ca" (got "${env.postgres.sslmode}")`,
      );
    }
    if (env.vaultAdmin.superuser && !env.vaultAdmin.acknowledgeSuperuserInProd) {
      problems.push(
        `${env.file}: vaultAdmin.superuser: a SUPERUSER vault_admin in prod needs vaultAdmin.acknowledgeSuperuserInProd: true (got superuser: true without it)`,
      );
    }
    if (!env.vault.address.startsWith("https://")) {
      problems.push(`${env.file}: vault.address: prod must use https (got "${env.vault.address}")`);
    }
    (env.auth.kubernetes?.bindings ?? []).forEach((b, i) => {
      for (const field of ["serviceAccounts", "namespaces"] as const) {
        const j = b[field].indexOf("*");
        if (j >= 0) {
          problems.push(
            `${env.file}: auth.kubernetes.bindings[${i}](${b.application}).${field}[${j}]: prod must name its ${field === "namespaces" ? "namespaces" : "service accounts"}, not the wildcard (got "*")`,
          );
        }
      }
    });
  }
  return problems;
}

/** Parses and validates one environment's JSON text; throws ConfigError listing every problem. */
export function parseEnvironment(name: string, file: string, text: string): EnvironmentConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${file}: not valid JSON: ${(err as Error).message}`]);
  }
  const result = environmentSchema.safeParse(data);
  if (!result.success) throw new ConfigError(formatIssues(file, data, result.error.issues));
  const caProblems: string[] = [];
  const env: EnvironmentConfig = {
    ...result.data,
    name,
    file,
    kubernetesCaCert: readCaCert(file, "auth.kubernetes.caCertFile", result.data.auth.kubernetes?.caCertFile, caProblems)?.pem,
    postgresCaCert: readCaCert(file, "postgres.caCertFile", result.data.postgres.caCertFile, caProblems),
  };
  if (caProblems.length > 0) throw new ConfigError(caProblems);
  const problems = environmentRules(env);
  if (problems.length > 0) throw new ConfigError(problems);
  return env;
}

/**
 * Reads a CA file named by `field`, relative to the config file. A missing file, one that is not a PEM
 * certificate, or one that also holds a private key (which would be copied into the synthesized JSON) adds
 * a line to `problems` and reads nothing.
 */
function readCaCert(file: string, field: string, caFile: string | undefined, problems: string[]): CaCertificate | undefined {
  if (caFile === undefined) return undefined;
  const where = `${file}: ${field}`;
  const path = resolve(dirname(file), caFile);
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    problems.push(`${where}: cannot read "${caFile}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return undefined;
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    problems.push(`${where}: "${caFile}" is not a PEM certificate (no -----BEGIN CERTIFICATE-----)`);
    return undefined;
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    problems.push(`${where}: "${caFile}" holds a private key: give the CA certificate alone, it is copied into the synthesized stack`);
    return undefined;
  }
  return { pem, path };
}

/** Environment names are file names; they become stack names (`keybuzz-<env>`). */
const ENV_FILE = /^([a-z][a-z0-9-]*)\.json$/;
/** The JSON Schema written by `npm run schema` sits beside the environment files but is not one. */
const SCHEMA_FILE = "schema.json";

/**
 * Loads every `<env>.json` in a folder (sorted by name), validating all before returning any,
 * so that one bad file stops the whole synth. Throws ConfigError with every problem of every file.
 */
export function loadEnvironments(dir: string, only?: readonly string[]): EnvironmentConfig[] {
  const files = readdirSync(dir)
    .filter((f) => ENV_FILE.test(f) && f !== SCHEMA_FILE)
    .sort();
  const envs: EnvironmentConfig[] = [];
  const problems: string[] = [];
  for (const f of files) {
    const name = basename(f, ".json");
    if (only && !only.includes(name)) continue;
    const path = join(dir, f);
    const shown = relative(process.cwd(), path) || path;
    try {
      envs.push(parseEnvironment(name, shown, readFileSync(path, "utf8")));
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (only) {
    for (const name of only) {
      if (!files.includes(`${name}.json`)) problems.push(`${join(dir, `${name}.json`)}: no such environment file`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (envs.length === 0) throw new ConfigError([`${dir}: no environment files (<env>.json) found`]);
  return envs;
}
