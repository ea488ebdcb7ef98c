import { Construct } from "constructs";
import { TerraformStack } from "cdktf";
import { writeAgentFiles } from "./stack-files";
import type { AppPolicy } from "./app-policy";
import { ENCRYPTING_SSLMODES, HOST_PATH, VAULT_NAME, VERIFYING_SSLMODES } from "./vocabulary";

/**
 * How an application reads its credentials:
 * - `libpq`: a connection service file (`pg_service.conf`, one section named after the application), for
 *   anything built on libpq (psql, Ruby's pg, psycopg, pgx): `PGSERVICEFILE=<file> PGSERVICE=<application>`.
 * - `chatwoot`: an env file with Chatwoot's `POSTGRES_*` variables, and libpq's `PGSSLMODE` / `PGOPTIONS`.
 * - `n8n`: an env file with n8n's `DB_TYPE` and `DB_POSTGRESDB_*` variables, and `PGOPTIONS`.
 *
 * Every form logs in with `--role=<base role>` in the connection options, so that what the application
 * creates is owned by its base role, not by the short-lived user.
 *
 * @see https://www.postgresql.org/docs/current/libpq-pgservice.html
 * @see https://developers.chatwoot.com/self-hosted/configuration/environment-variables
 * @see https://docs.n8n.io/hosting/configuration/environment-variables/database/
 */
/** The formats the agent renders credentials in. */
export const CREDENTIALS_FORMATS = ["libpq", "chatwoot", "n8n"] as const;
export type CredentialsFormat = (typeof CREDENTIALS_FORMATS)[number];

/**
 * Why credentials in `format` would travel in clear, or undefined: n8n turns TLS on only when given a CA,
 * whatever the sslmode, so an encrypting sslmode needs one. `names` are the fields the message points to.
 */
export function n8nTlsProblem(
  format: CredentialsFormat,
  sslmode: string,
  caCertPath: string | undefined,
  names: { readonly sslmode: string; readonly caCertPath: string },
): string | undefined {
  return format === "n8n" && ENCRYPTING_SSLMODES.has(sslmode) && !caCertPath
    ? `n8n uses TLS only when given a CA: with ${names.sslmode} "${sslmode}" set ${names.caCertPath}, or n8n would connect in clear`
    : undefined;
}

/** What {@link AgentConfig} writes when its props say nothing; the config's defaults are these. */
export const AGENT_CONFIG_DEFAULTS = {
  format: "libpq" as CredentialsFormat,
  configDirectory: "/etc/vault-agent",
  runDirectory: "/run/vault-agent",
  binary: "/usr/bin/vault",
} as const;

/** The file each format renders, in the agent's run folder or the pod's `/vault/secrets`. */
const CREDENTIALS_FILE: Readonly<Record<CredentialsFormat, string>> = {
  libpq: "pg_service.conf",
  chatwoot: "chatwoot.env",
  n8n: "n8n.env",
};

/** Where applications reach PostgreSQL (HAProxy in front of the cluster). */
export interface AgentPostgres {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** libpq sslmode. */
  readonly sslmode: string;
  /** CA file on the application's host that signed PostgreSQL's certificate. @default - libpq's default (~/.postgresql/root.crt) */
  readonly caCertPath?: string;
}

/** Props of {@link AgentConfig}. */
export interface AgentConfigProps {
  /** The application; its files go to `agent/<application>/` in the stack's output folder. */
  readonly application: string;
  /** The application's policy: its dynamic role names the credentials, and nothing else may be read. */
  readonly policy: AppPolicy;
  /** Vault's address, as the agent reaches it. */
  readonly vaultAddress: string;
  /** CA file on the application's host that signed Vault's certificate. @default - the system trust store */
  readonly vaultCaCertPath?: string;
  /** Where the application connects. */
  readonly postgres: AgentPostgres;
  /** @default "libpq" */
  readonly format?: CredentialsFormat;
  /** Schema the application works in (n8n's `DB_POSTGRESDB_SCHEMA`). @default - the base role's name */
  readonly schema?: string;
  /**
   * A Go template of your own instead of the format's; it may read only this application's credentials.
   * @default - the format's template
   */
  readonly template?: string;
  /** Run after each render (new credentials): signal or restart the application. @default - none */
  readonly command?: readonly string[];
  /** The AppRole login outside Kubernetes: writes `agent.hcl` and a systemd unit. @default - none */
  readonly approle?: { readonly loginPath: string; readonly roleName: string };
  /** The Kubernetes login: writes the pod annotations for the Vault Agent injector. @default - none */
  readonly kubernetes?: { readonly loginPath: string; readonly roleName: string };
  /** More injector annotations (`vault.hashicorp.com/...`), e.g. resources or TLS. @default - none */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Holds `<application>/agent.hcl`, `role-id` and `secret-id` on the host. @default "/etc/vault-agent" */
  readonly configDirectory?: string;
  /** Holds `<application>/` with the token and the rendered credentials (tmpfs). @default "/run/vault-agent" */
  readonly runDirectory?: string;
  /** The agent program: `vault` or OpenBao's `bao`. @default "/usr/bin/vault" */
  readonly binary?: string;
  /** The system user the agent runs as, who can read the rendered file. @default - the application's name */
  readonly user?: string;
}

/** The annotation prefix of the Vault Agent injector. */
export const INJECTOR_ANNOTATION_PREFIX = "vault.hashicorp.com/";
const ANNOTATION = INJECTOR_ANNOTATION_PREFIX;
/** The name of the injected secret: `/vault/secrets/<file>` via agent-inject-file-database. */
export const INJECTED_SECRET = "database";
const SECRET = INJECTED_SECRET;

/** The Vault paths a Go template reads with `secret "<path>"` (or `secret `<path>``). */
export function templateReads(template: string): string[] {
  return [...template.matchAll(/\bsecret\s+(?:"([^"]*)"|`([^`]*)`)/g)].map((m) => m[1] ?? m[2]);
}

/**
 * Why a template would read something other than `credentialsPath` (the policy denies it at run time, in a
 * retry loop; here it is an error before anything is written), or undefined when it reads only that.
 */
export function templateProblem(template: string, credentialsPath: string): string | undefined {
  const reads = templateReads(template);
  if (reads.length === 0) return `reads no secret: it must contain {{ with secret "${credentialsPath}" }}`;
  const other = reads.find((p) => p !== credentialsPath);
  if (other !== undefined) return `reads "${other}": an application's template may read only its own credentials (${credentialsPath})`;
  if (/^EOT$/m.test(template)) return "must not contain a line EOT (it ends the template in agent.hcl)";
  return undefined;
}

/**
 * Every annotation the Vault Agent injector reads, without the prefix: the constants of hashicorp/vault-k8s
 * 1.7.6 (`agent-inject/agent/annotations.go`; test/constructs/injector-annotations.integration.test.ts holds
 * this list to that file). Those of {@link PER_SECRET_ANNOTATIONS} and {@link PARAMETER_ANNOTATIONS} also
 * take a suffix. An annotation outside it is ignored by the injector, so a typo would silently do nothing.
 */
export const INJECTOR_ANNOTATIONS = [
  "agent-inject-status",
  "agent-inject",
  "agent-inject-secret",
  "agent-inject-file",
  "agent-inject-perms",
  "agent-inject-template",
  "agent-inject-containers",
  "agent-inject-default-template",
  "agent-inject-template-file",
  "agent-template-left-delim",
  "agent-template-right-delim",
  "agent-inject-token",
  "agent-inject-command",
  "agent-image",
  "agent-request-namespace",
  "agent-init-first",
  "agent-pre-populate",
  "agent-pre-populate-only",
  "agent-configmap",
  "agent-extra-secret",
  "agent-limits-cpu",
  "agent-limits-mem",
  "agent-limits-ephemeral",
  "agent-requests-cpu",
  "agent-requests-mem",
  "agent-requests-ephemeral",
  "agent-revoke-on-shutdown",
  "agent-revoke-grace",
  "namespace",
  "agent-run-as-user",
  "agent-run-as-group",
  "agent-run-as-same-user",
  "agent-share-process-namespace",
  "agent-set-security-context",
  "agent-service-account-token-volume-name",
  "service",
  "proxy-address",
  "tls-skip-verify",
  "tls-secret",
  "tls-server-name",
  "ca-cert",
  "ca-key",
  "client-cert",
  "client-key",
  "client-max-retries",
  "client-timeout",
  "go-max-procs",
  "log-level",
  "log-format",
  "role",
  "auth-type",
  "auth-path",
  "auth-config",
  "secret-volume-path",
  "preserve-secret-case",
  "agent-cache-enable",
  "agent-cache-use-auto-auth-token",
  "agent-cache-listener-port",
  "agent-cache-exit-on-err",
  "agent-copy-volume-mounts",
  "template-config-exit-on-retry-failure",
  "template-static-secret-render-interval",
  "template-max-connections-per-host",
  "template-lease-renewal-threshold",
  "agent-enable-quit",
  "auth-min-backoff",
  "auth-max-backoff",
  "agent-disable-idle-connections",
  "agent-disable-keep-alives",
  "agent-json-patch",
  "agent-init-json-patch",
  "agent-auto-auth-exit-on-err",
  "agent-telemetry",
  "error-on-missing-key",
] as const;

/** Annotations the injector reads per secret, as `<name>-<secret>` (annotations.go, `annotationsSecretValue`). */
export const PER_SECRET_ANNOTATIONS = [
  "agent-inject-secret",
  "agent-inject-template",
  "agent-inject-template-file",
  "agent-inject-command",
  "agent-inject-file",
  "agent-inject-perms",
  "agent-template-left-delim",
  "agent-template-right-delim",
  "secret-volume-path",
  "error-on-missing-key",
  "preserve-secret-case",
] as const;

/** Annotations the injector reads as `<name>-<parameter>` (the auto-auth method's config, telemetry). */
export const PARAMETER_ANNOTATIONS = ["auth-config", "agent-telemetry"] as const;

/** The annotations {@link AgentConfig} and the pod templates set from the config (besides the `-database` ones of the secret). */
const GENERATED_ANNOTATIONS = [
  "agent-inject",
  "service",
  "ca-cert",
  "auth-path",
  "role",
  "agent-cache-enable",
  "agent-revoke-on-shutdown",
  "template-config-exit-on-retry-failure",
  "agent-service-account-token-volume-name",
  "agent-pre-populate-only",
].map((name) => `${ANNOTATION}${name}`);

/** Annotations refused whatever their value, and why. */
const REFUSED_ANNOTATIONS: Readonly<Record<string, string>> = {
  "agent-inject-status": "is written by the injector itself once it has mutated a pod",
  "tls-skip-verify": "would turn off the check of Vault's certificate",
  "auth-type": "is set from the config: the pods log in with the Kubernetes method",
  "auth-config": "changes the login (its token path, role or audience), which is set from the config",
};

/** Whether `name` (an annotation without its prefix) is one the injector does not read. */
function unknownAnnotation(name: string): boolean {
  if ((INJECTOR_ANNOTATIONS as readonly string[]).includes(name)) return false;
  return ![...PER_SECRET_ANNOTATIONS, ...PARAMETER_ANNOTATIONS].some((known) => name.startsWith(`${known}-`) && name.length > known.length + 1);
}

/** Why an extra annotation is refused (unknown to the injector, another application's credentials, or one set from the config), or undefined. */
export function annotationProblem(key: string, value: string, credentialsPath: string): string | undefined {
  if (!key.startsWith(ANNOTATION)) return `"${key}" is not a Vault Agent injector annotation (${ANNOTATION}...)`;
  const name = key.slice(ANNOTATION.length);
  if (unknownAnnotation(name)) {
    return `"${key}" is not an annotation the Vault Agent injector (vault-k8s 1.7.6) reads: it would be ignored; check its spelling`;
  }
  if (GENERATED_ANNOTATIONS.includes(key)) return `"${key}" is set from the config (Vault, login, revocation); it cannot be overridden`;
  const refused = Object.entries(REFUSED_ANNOTATIONS).find(([n]) => name === n || name.startsWith(`${n}-`));
  if (refused) return `"${key}" ${refused[1]}`;
  if (/^(agent-inject-(secret|template|template-file|command|file)|agent-template-(left|right)-delim)-/.test(name)) {
    return `"${key}" would inject another secret: an application's pods receive only their own credentials`;
  }
  const perSecret = PER_SECRET_ANNOTATIONS.find((p) => name.startsWith(`${p}-`));
  if (perSecret && name !== `${perSecret}-${SECRET}`) {
    return `"${key}" names the secret "${name.slice(perSecret.length + 1)}"; the only secret of an application's pods is "${SECRET}"`;
  }
  const creds = /\b[a-z0-9-]+\/creds\/[a-z0-9-]+/.exec(value)?.[0];
  if (creds !== undefined && creds !== credentialsPath) {
    return `"${key}" names "${creds}": an application may read only its own credentials (${credentialsPath})`;
  }
  return undefined;
}

/**
 * How one application gets its credentials from Vault, as files written with the stack
 * (`<outdir>/stacks/<stack>/agent/<application>/`), reviewed with the plan and holding no secret:
 * - with AppRole, `agent.hcl` for Vault Agent (or `bao agent`) and `vault-agent-<application>.service`;
 * - with Kubernetes, `kubernetes-annotations.yaml` for the pod template, read by the Vault Agent injector.
 *
 * The agent logs in, renders the credentials (0600), renews the lease, fetches new credentials before the
 * lease's max TTL, runs `command` after each render so the application switches, and exits if it cannot
 * render. Its token stays in memory and in a 0600 file of the run folder only so that, when the service stops,
 * `vault token revoke -self` revokes it and with it every credential it read (the injector's
 * `agent-revoke-on-shutdown` does the same in a pod). Templates name paths, never values.
 *
 * These are files, not Terraform resources: nothing of them belongs in state, they change nothing in Vault
 * or PostgreSQL, and hosts and pods are provisioned by other tools that take them from the output folder.
 *
 * @see https://developer.hashicorp.com/vault/docs/agent-and-proxy/agent
 * @see https://developer.hashicorp.com/vault/docs/platform/k8s/injector/annotations
 */
export class AgentConfig extends Construct {
  /** The application. */
  public readonly application: string;
  /** What the templates read, e.g. `database/creds/chatwoot-db`. */
  public readonly credentialsPath: string;
  /** The rendered file's name (`pg_service.conf`, `chatwoot.env`, `n8n.env`). */
  public readonly credentialsFile: string;
  /** File name → contents, as written under `agent/<application>/`. */
  public readonly files: Readonly<Record<string, string>>;
  /** The injector annotations of the application's pods (with a Kubernetes login), the extra ones included. */
  public readonly annotations?: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: AgentConfigProps) {
    super(scope, id);
    const what = `agent of "${props.application}"`;
    if (!VAULT_NAME.test(props.application)) throw new Error(`${what}: application must be a Vault path segment`);
    const paths = {
      configDirectory: props.configDirectory ?? AGENT_CONFIG_DEFAULTS.configDirectory,
      runDirectory: props.runDirectory ?? AGENT_CONFIG_DEFAULTS.runDirectory,
      binary: props.binary ?? AGENT_CONFIG_DEFAULTS.binary,
      vaultCaCertPath: props.vaultCaCertPath,
      "postgres.caCertPath": props.postgres.caCertPath,
    };
    for (const [field, value] of Object.entries(paths)) {
      if (value !== undefined && !HOST_PATH.test(value)) {
        throw new Error(`${what}: ${field} must be an absolute path of letters, digits and ._/-, got "${value}"`);
      }
    }
    const format = props.format ?? AGENT_CONFIG_DEFAULTS.format;
    if (!props.approle && !props.kubernetes) throw new Error(`${what}: needs an AppRole or a Kubernetes login to render anything`);
    const command = [...(props.command ?? [])];
    if (command.some((arg) => arg === "" || /[\n\r]/.test(arg))) throw new Error(`${what}: command arguments must be non-empty single lines`);

    const clear = n8nTlsProblem(format, props.postgres.sslmode, props.postgres.caCertPath, {
      sslmode: "postgres.sslmode",
      caCertPath: "postgres.caCertPath",
    });
    if (clear) throw new Error(`${what}: ${clear}`);
    const role = props.policy.role;
    this.application = props.application;
    this.credentialsPath = role.credentialsPath;
    this.credentialsFile = CREDENTIALS_FILE[format];
    const template =
      props.template ??
      credentialsTemplate(format, {
        application: props.application,
        credentialsPath: role.credentialsPath,
        baseRole: role.baseRole,
        schema: props.schema ?? role.baseRole,
        postgres: props.postgres,
      });
    const problem = templateProblem(template, role.credentialsPath);
    if (problem) throw new Error(`${what}: template ${problem}`);

    const files: Record<string, string> = {};
    const header = `generated by \`cdktf synth\` for ${props.application} (${TerraformStack.of(this).node.id}); holds no secret`;
    if (props.approle) {
      const dir = {
        config: `${paths.configDirectory}/${props.application}`,
        run: `${paths.runDirectory}/${props.application}`,
      };
      files["agent.hcl"] = agentHcl({
        header,
        dir,
        template,
        command,
        file: this.credentialsFile,
        login: props.approle,
        vaultAddress: props.vaultAddress,
        vaultCaCertPath: props.vaultCaCertPath,
      });
      files[`vault-agent-${props.application}.service`] = systemdUnit({
        header,
        dir,
        application: props.application,
        user: props.user ?? props.application,
        binary: paths.binary,
        vaultAddress: props.vaultAddress,
        vaultCaCertPath: props.vaultCaCertPath,
      });
    }
    if (props.kubernetes) {
      const annotations = injectorAnnotations({
        template,
        command,
        file: this.credentialsFile,
        credentialsPath: role.credentialsPath,
        login: props.kubernetes,
        vaultAddress: props.vaultAddress,
        vaultCaCertPath: props.vaultCaCertPath,
      });
      for (const [key, value] of Object.entries(props.annotations ?? {})) {
        const refused = annotationProblem(key, value, role.credentialsPath);
        if (refused) throw new Error(`${what}: annotation ${refused}`);
        annotations[key] = value;
      }
      files["kubernetes-annotations.yaml"] = annotationsYaml(header, annotations);
      this.annotations = annotations;
    } else if (props.annotations && Object.keys(props.annotations).length > 0) {
      throw new Error(`${what}: annotations need a Kubernetes login (auth.kubernetes binding)`);
    }
    this.files = files;

    writeAgentFiles(this, props.application, () => this.files);
  }
}

interface TemplateInput {
  readonly application: string;
  readonly credentialsPath: string;
  readonly baseRole: string;
  readonly schema: string;
  readonly postgres: AgentPostgres;
}

/** The Go template of a format: the fixed settings, and the user and password of one lease. */
function credentialsTemplate(format: CredentialsFormat, input: TemplateInput): string {
  const { postgres: pg } = input;
  const verifying = VERIFYING_SSLMODES.has(pg.sslmode);
  const role = `--role=${input.baseRole}`;
  const lines: string[] = (() => {
    switch (format) {
      case "libpq":
        return [
          `[${input.application}]`,
          `host=${pg.host}`,
          `port=${pg.port}`,
          `dbname=${pg.database}`,
          "user={{ .Data.username }}",
          "password={{ .Data.password }}",
          `sslmode=${pg.sslmode}`,
          ...(pg.caCertPath ? [`sslrootcert=${pg.caCertPath}`] : []),
          `options=${role}`,
        ];
      case "chatwoot":
        return [
          `POSTGRES_HOST=${pg.host}`,
          `POSTGRES_PORT=${pg.port}`,
          `POSTGRES_DATABASE=${pg.database}`,
          "POSTGRES_USERNAME={{ .Data.username }}",
          "POSTGRES_PASSWORD={{ .Data.password }}",
          `PGSSLMODE=${pg.sslmode}`,
          ...(pg.caCertPath ? [`PGSSLROOTCERT=${pg.caCertPath}`] : []),
          `PGOPTIONS=${role}`,
        ];
      case "n8n":
        return [
          "DB_TYPE=postgresdb",
          `DB_POSTGRESDB_HOST=${pg.host}`,
          `DB_POSTGRESDB_PORT=${pg.port}`,
          `DB_POSTGRESDB_DATABASE=${pg.database}`,
          "DB_POSTGRESDB_USER={{ .Data.username }}",
          "DB_POSTGRESDB_PASSWORD={{ .Data.password }}",
          `DB_POSTGRESDB_SCHEMA=${input.schema}`,
          // n8n turns TLS on only with a CA (the constructor requires one when sslmode asks for encryption).
          ...(pg.caCertPath ? [`DB_POSTGRESDB_SSL_CA=${pg.caCertPath}`, `DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED=${verifying}`] : []),
          `PGOPTIONS=${role}`,
        ];
    }
  })();
  return [`{{ with secret "${input.credentialsPath}" -}}`, ...lines, "{{ end -}}", ""].join("\n");
}

interface AgentHclInput {
  readonly header: string;
  readonly dir: { readonly config: string; readonly run: string };
  readonly template: string;
  readonly command: readonly string[];
  readonly file: string;
  readonly login: { readonly loginPath: string; readonly roleName: string };
  readonly vaultAddress: string;
  readonly vaultCaCertPath?: string;
}

const q = (s: string) => JSON.stringify(s);

/** Vault Agent's configuration (HCL) for an AppRole login. */
function agentHcl(input: AgentHclInput): string {
  const { dir } = input;
  const mountPath = input.login.loginPath.replace(/\/login$/, "");
  return [
    `# Vault Agent: ${input.header}.`,
    `# Needs ${dir.config}/role-id and ${dir.config}/secret-id (AppRole "${input.login.roleName}"), written by your provisioning.`,
    "",
    `pid_file = ${q(`${dir.run}/agent.pid`)}`,
    "",
    "vault {",
    `  address = ${q(input.vaultAddress)}`,
    ...(input.vaultCaCertPath ? [`  ca_cert = ${q(input.vaultCaCertPath)}`] : []),
    "}",
    "",
    "auto_auth {",
    `  method "approle" {`,
    `    mount_path = ${q(mountPath)}`,
    "    config = {",
    `      role_id_file_path                   = ${q(`${dir.config}/role-id`)}`,
    `      secret_id_file_path                 = ${q(`${dir.config}/secret-id`)}`,
    "      remove_secret_id_file_after_reading = false",
    "    }",
    "  }",
    "",
    "  # for `vault token revoke -self` when the service stops (HOME is this folder): the token and every",
    "  # credential it read end with the agent.",
    `  sink "file" {`,
    "    config = {",
    `      path = ${q(`${dir.run}/.vault-token`)}`,
    "      mode = 384 # 0600",
    "    }",
    "  }",
    "}",
    "",
    "template_config {",
    "  # a template that cannot render stops the agent (and the service restarts it) instead of leaving old credentials.",
    "  exit_on_retry_failure = true",
    "}",
    "",
    "template {",
    `  destination          = ${q(`${dir.run}/${input.file}`)}`,
    `  perms                = "0600"`,
    "  error_on_missing_key = true",
    "  contents             = <<EOT",
    input.template.replace(/\n$/, ""),
    "EOT",
    ...(input.command.length
      ? [
          "",
          "  # after each render: the application switches to the new credentials.",
          "  exec {",
          `    command = [${input.command.map(q).join(", ")}]`,
          "  }",
        ]
      : []),
    "}",
    "",
  ].join("\n");
}

interface UnitInput {
  readonly header: string;
  readonly dir: { readonly config: string; readonly run: string };
  readonly application: string;
  readonly user: string;
  readonly binary: string;
  readonly vaultAddress: string;
  readonly vaultCaCertPath?: string;
}

/** A systemd unit that runs the agent and revokes its token, and so its credentials, when it stops. */
function systemdUnit(input: UnitInput): string {
  const { dir } = input;
  const tls = input.vaultCaCertPath ? ` -ca-cert=${input.vaultCaCertPath}` : "";
  // under /run, systemd makes the folder (0700, owned by User) and removes it, token included, at stop.
  const runtime = dir.run.startsWith("/run/") ? [`RuntimeDirectory=${dir.run.slice("/run/".length)}`, "RuntimeDirectoryMode=0700"] : [];
  return [
    `# systemd unit: ${input.header}.`,
    "[Unit]",
    `Description=Vault Agent: PostgreSQL credentials of ${input.application}`,
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    `User=${input.user}`,
    `Environment=HOME=${dir.run}`,
    ...runtime,
    `ExecStart=${input.binary} agent -config=${dir.config}/agent.hcl`,
    `ExecStopPost=-${input.binary} token revoke -address=${input.vaultAddress}${tls} -self`,
    "Restart=on-failure",
    "RestartSec=5",
    "NoNewPrivileges=true",
    "ProtectSystem=strict",
    "ProtectHome=true",
    "PrivateTmp=true",
    `ReadWritePaths=${dir.run}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

interface AnnotationsInput {
  readonly template: string;
  readonly command: readonly string[];
  readonly file: string;
  readonly credentialsPath: string;
  readonly login: { readonly loginPath: string; readonly roleName: string };
  readonly vaultAddress: string;
  readonly vaultCaCertPath?: string;
}

/** The injector annotations of a pod template: one secret, rendered to `/vault/secrets/<file>`. */
function injectorAnnotations(input: AnnotationsInput): Record<string, string> {
  const a = (name: string) => `${ANNOTATION}${name}`;
  return {
    [a("agent-inject")]: "true",
    [a("service")]: input.vaultAddress,
    ...(input.vaultCaCertPath ? { [a("ca-cert")]: input.vaultCaCertPath } : {}),
    [a("auth-path")]: input.login.loginPath.replace(/\/login$/, ""),
    [a("role")]: input.login.roleName,
    [a(`agent-inject-secret-${SECRET}`)]: input.credentialsPath,
    [a(`agent-inject-file-${SECRET}`)]: input.file,
    [a(`agent-inject-template-${SECRET}`)]: input.template,
    // one string, which the agent runs with a shell: each argument quoted where it needs it.
    ...(input.command.length ? { [a(`agent-inject-command-${SECRET}`)]: input.command.map(shellWord).join(" ") } : {}),
    // the init container and the sidecar share one token and one lease instead of reading two.
    [a("agent-cache-enable")]: "true",
    [a("agent-revoke-on-shutdown")]: "true",
    [a("template-config-exit-on-retry-failure")]: "true",
  };
}

/** `arg` as one shell word: as it is when it is plain, else in single quotes. */
function shellWord(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

/** Annotations as YAML for `spec.template.metadata.annotations`; multi-line values as literal blocks. */
function annotationsYaml(header: string, annotations: Record<string, string>): string {
  const lines = [`# Vault Agent injector annotations: ${header}.`, "# Put them under spec.template.metadata.annotations of the application's pods."];
  for (const [key, value] of Object.entries(annotations)) {
    if (value.includes("\n")) {
      lines.push(
        `${key}: |2${value.endsWith("\n") ? "" : "-"}`,
        ...value
          .replace(/\n$/, "")
          .split("\n")
          .map((l) => (l ? `  ${l}` : "")),
      );
    } else {
      lines.push(`${key}: ${q(value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
