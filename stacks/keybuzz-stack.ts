import { relative, resolve, sep } from "node:path";
import { Construct } from "constructs";
import { App, Manifest, LocalBackend, PgBackend, RemoteBackend, S3Backend, TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { PostgresqlProvider } from "@cdktf/provider-postgresql/lib/provider";
import { VaultProvider } from "@cdktf/provider-vault/lib/provider";
import { Application, type ApplicationOutputs } from "../constructs/application";
import { AppRoleAuth } from "../constructs/approle-auth";
import { BaseRoles } from "../constructs/base-roles";
import { KubernetesAuth } from "../constructs/kubernetes-auth";
import { LeaseAudit } from "../constructs/lease-audit";
import { PostgresLogMetrics } from "../constructs/postgres-log-metrics";
import { writeStackFiles } from "../constructs/stack-files";
import { Connection } from "../constructs/connection";
import { CredentialFunctions } from "../constructs/credential-functions";
import { SecretsMount } from "../constructs/secrets-mount";
import { VaultAdmin } from "../constructs/vault-admin";
import { MIN_ENGINE_VERSION } from "../constructs/vocabulary";
import { isProduction, type EnvironmentConfig } from "./environment";
import { FUNCTIONS_SCHEMA, KEYBUZZ_LABELS, LEASE_AUDIT_NAMES, APPLICATIONS_OUTPUT, leaseBudgetOf } from "./keybuzz-names";
import { movedFrom } from "./moved";
import { LEASE_AUDIT_LABEL, LOG_METRIC_PREFIX, MONITORING_FILES, alertRulesFile } from "./alert-rules";

/** Props of {@link KeybuzzStack}. */
export interface KeybuzzStackProps {
  /** The validated environment (see `stacks/environment/`). */
  readonly config: EnvironmentConfig;
}

/** The stack name of an environment: `keybuzz-<env>`. */
export function stackName(environment: string): string {
  return `keybuzz-${environment}`;
}

/**
 * One environment: the base roles, `vault_admin`, the secrets engine, the connection, the auth methods and
 * one {@link Application} per config entry (its dynamic role, policy, logins and, when it logs in, its
 * agent's files beside the synthesized JSON), with the Vault and PostgreSQL providers; and the lease audit's
 * roles and policies ({@link LeaseAudit}, for `npm run leases`); and, in `monitoring/`, the mtail program of
 * PostgreSQL's log ({@link PostgresLogMetrics}) and the alert rules (stacks/alert-rules.ts).
 *
 * Provider credentials come from the environment only: VAULT_TOKEN for Vault, PGPASSWORD for PostgreSQL,
 * and TF_VAR_vault_admin_password for the admin password (a sensitive, ephemeral variable delivered through
 * write-only attributes, so it is in neither the plan nor the state).
 *
 * With `postgres.caCertFile`, both verify PostgreSQL's certificate against that CA: Vault gets its PEM
 * (`tls_ca`, since Vault may run elsewhere), the postgresql provider its path (`sslrootcert`), relative to
 * the stack's folder in the output, where Terraform runs.
 */
export class KeybuzzStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: KeybuzzStackProps) {
    super(scope, id);
    const { config } = props;
    this.configureBackend(id, config);
    // stated, so that an older engine names the version it needs instead of stopping at attributes it does not know.
    this.addOverride("terraform.required_version", `>= ${MIN_ENGINE_VERSION}`);

    new VaultProvider(this, "vault", { address: config.vault.address });
    new PostgresqlProvider(this, "postgresql", {
      host: config.postgres.host,
      port: config.postgres.port,
      database: "postgres",
      username: config.postgres.adminUsername,
      sslmode: config.postgres.sslmode,
      sslrootcert: config.postgresCaCert && this.pathFromWorkingDirectory(config.postgresCaCert.path),
    });

    const password = new TerraformVariable(this, "vault_admin_password", {
      type: "string",
      sensitive: true,
      nullable: false,
      description: "Password of the PostgreSQL role Vault connects as. Set TF_VAR_vault_admin_password; never commit it.",
    });
    // ephemeral: kept out of plan files too; only write-only attributes may use it (Terraform/OpenTofu >= 1.11).
    password.addOverride("ephemeral", true);

    const baseRoles = new BaseRoles(this, "BaseRoles", {
      databaseName: config.postgres.database,
      protectData: config.postgres.protectData,
      closeDatabases: config.postgres.closeDatabases,
      roles: config.applications.map((app) => ({
        name: app.baseRole,
        schemas: app.schemas,
        defaultPrivileges: app.defaultPrivileges,
      })),
    });
    const functions = new CredentialFunctions(this, "CredentialFunctions", { baseRoles, schemaName: FUNCTIONS_SCHEMA });
    const admin = new VaultAdmin(this, "VaultAdmin", {
      baseRoles,
      functions,
      reservedConnections: config.vaultAdmin.reservedConnections,
      password: password.stringValue,
      passwordVersion: config.vaultAdmin.passwordVersion,
      username: config.vaultAdmin.username,
      superuser: config.vaultAdmin.superuser,
    });
    const mount = new SecretsMount(this, "Mount", {
      path: config.vault.mountPath,
      defaultLeaseTtlSeconds: config.vault.defaultLeaseTtl,
      maxLeaseTtlSeconds: config.vault.maxLeaseTtl,
      description: KEYBUZZ_LABELS.mountDescription,
    });
    const connection = new Connection(this, "Connection", {
      mount,
      admin,
      host: config.postgres.host,
      port: config.postgres.port,
      database: config.postgres.database,
      sslmode: config.postgres.sslmode,
      caCertificate: config.postgresCaCert?.pem,
      name: config.connection.name,
      maxOpenConnections: config.connection.maxOpenConnections,
      maxIdleConnections: config.connection.maxIdleConnections,
      maxConnectionLifetimeSeconds: config.connection.maxConnectionLifetime,
    });

    const approle = config.auth.approle
      ? new AppRoleAuth(this, "AppRoleAuth", { path: config.auth.approle.path, description: KEYBUZZ_LABELS.approleDescription })
      : undefined;
    const kubernetes = config.auth.kubernetes
      ? new KubernetesAuth(this, "KubernetesAuth", {
          path: config.auth.kubernetes.path,
          kubernetesHost: config.auth.kubernetes.host,
          kubernetesCaCert: config.kubernetesCaCert,
          forbidWildcards: isProduction(config.name),
          description: KEYBUZZ_LABELS.kubernetesDescription,
        })
      : undefined;
    const applicationsScope = new Construct(this, "Applications");
    const applications: Record<string, ApplicationOutputs & { readonly [APPLICATIONS_OUTPUT.leaseBudget]: number }> = {};
    for (const app of config.applications) {
      const approleBinding = config.auth.approle?.bindings.find((b) => b.application === app.name);
      const k8sBinding = config.auth.kubernetes?.bindings.find((b) => b.application === app.name);
      const application = new Application(applicationsScope, app.name, {
        connection,
        functions,
        vaultRole: app.vaultRole,
        baseRole: baseRoles.role(app.baseRole),
        additionalBaseRoles: app.additionalBaseRoles.map((name) => baseRoles.role(name)),
        defaultTtlSeconds: app.defaultTtl,
        maxTtlSeconds: app.maxTtl,
        connectionLimit: app.connectionLimit,
        approle: approle &&
          approleBinding && {
            auth: approle,
            tokenTtlSeconds: approleBinding.tokenTtl,
            tokenMaxTtlSeconds: approleBinding.tokenMaxTtl,
            secretIdTtlSeconds: approleBinding.secretIdTtl,
            cidrs: approleBinding.cidrs,
          },
        kubernetes: kubernetes &&
          k8sBinding && {
            auth: kubernetes,
            serviceAccounts: k8sBinding.serviceAccounts,
            namespaces: k8sBinding.namespaces,
            audience: k8sBinding.audience,
            tokenTtlSeconds: k8sBinding.tokenTtl,
            tokenMaxTtlSeconds: k8sBinding.tokenMaxTtl,
            workload: {
              namespace: k8sBinding.workload.namespace,
              serviceAccount: k8sBinding.workload.serviceAccount,
              audience: k8sBinding.workload.audience,
              tokenExpirationSeconds: k8sBinding.workload.tokenExpiration,
              managedBy: KEYBUZZ_LABELS.managedBy,
            },
          },
        agent: {
          vaultAddress: config.vault.address,
          vaultCaCertPath: config.agent.vaultCaCertPath,
          postgres: {
            host: config.postgres.host,
            port: config.postgres.port,
            database: config.postgres.database,
            sslmode: config.postgres.sslmode,
            caCertPath: config.agent.postgresCaCertPath,
          },
          format: app.agent.format,
          // the schema it owns (n8n creates its tables there).
          schema: Object.entries(app.schemas ?? {}).find(([, access]) => access.owned)?.[0],
          template: app.agent.template,
          command: app.agent.command,
          annotations: app.agent.annotations,
          user: app.agent.user,
          configDirectory: config.agent.configDirectory,
          runDirectory: config.agent.runDirectory,
          binary: config.agent.binary,
        },
      });
      applications[app.name] = { ...application.outputs, [APPLICATIONS_OUTPUT.leaseBudget]: leaseBudgetOf(app) };
      // the role and the policy lived directly under the stack before Application existed (see moved.ts).
      movedFrom(application.role.resource, ["DynamicRoles", app.name, "Resource"]);
      movedFrom(application.policy.resource, ["Policies", app.name, "Resource"]);
    }

    // what `npm run leases` uses: its own Vault roles and policies, no password.
    const audit = new LeaseAudit(this, "LeaseAudit", { connection, functions, baseRoles, admin, names: LEASE_AUDIT_NAMES });

    // monitoring/ beside the stack: the mtail program that turns PostgreSQL's log into failed-login metrics, and
    // the alert rules on them and on the lease audit's (docs/operations.md, "Alerts").
    const { probeRole, auditRole, fixRole } = LEASE_AUDIT_NAMES;
    new PostgresLogMetrics(this, "LogMetrics", {
      applications: [
        ...config.applications.map((a) => ({ name: a.name, vaultRole: a.vaultRole })),
        ...[probeRole, auditRole, fixRole].map((vaultRole) => ({ name: LEASE_AUDIT_LABEL, vaultRole })),
      ],
      adminUsername: admin.username,
      metricPrefix: LOG_METRIC_PREFIX,
    });
    writeStackFiles(this, MONITORING_FILES.folder, () => ({ [MONITORING_FILES.rules]: alertRulesFile() }));

    new TerraformOutput(this, "mount_path", { value: mount.path, description: "Path of the database secrets engine." });
    new TerraformOutput(this, "connection_name", { value: connection.connectionName, description: "Vault connection name." });
    new TerraformOutput(this, APPLICATIONS_OUTPUT.name, {
      value: applications,
      description:
        "Per application: its Vault role, where to read credentials, the base role issued users join, its policy, where it logs in (auth path and role per method), and its lease budget (the most active leases before the lease audit reports it).",
    });
    new TerraformOutput(this, "leases_audit", {
      value: { policy: audit.auditPolicyName, fix_policy: audit.fixPolicyName },
      description: "Policies of a token for `npm run leases` (audit), and for `npm run leases -- --fix --apply` (fix).",
    });
  }

  /**
   * `file` relative to the folder Terraform runs in (`<outdir>/stacks/<stack>`, where `cdktf deploy` runs
   * it), with `/` separators: the synthesized JSON holds no path of this machine, and stays the same
   * wherever the project is checked out.
   */
  private pathFromWorkingDirectory(file: string): string {
    const workingDirectory = resolve(App.of(this).outdir, Manifest.stacksFolder, this.node.id);
    return relative(workingDirectory, resolve(file)).split(sep).join("/");
  }

  private configureBackend(stack: string, config: EnvironmentConfig): void {
    const backend = config.backend;
    switch (backend.type) {
      case "local":
        // terraform runs in cdktf.out/stacks/<stack>: three levels up is the project root. a relative
        // path keeps the synthesized JSON the same on every machine.
        new LocalBackend(this, { path: `../../../${backend.path ?? `terraform.${stack}.tfstate`}` });
        break;
      case "pg": {
        // the connection string (with its password) comes from PG_CONN_STR in the environment.
        const pg = new PgBackend(this, { connStr: "", schemaName: backend.schemaName ?? "terraform_remote_state" });
        pg.addOverride("conn_str", undefined);
        break;
      }
      case "s3": {
        const s3 = new S3Backend(this, { bucket: backend.bucket, key: backend.key, region: backend.region, encrypt: true });
        if (backend.useLockfile) s3.addOverride("use_lockfile", true);
        break;
      }
      case "remote":
        new RemoteBackend(this, {
          hostname: backend.hostname,
          organization: backend.organization,
          workspaces: { name: backend.workspace },
        });
        break;
    }
  }
}
