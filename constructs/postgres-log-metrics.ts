import { Construct } from "constructs";
import { writeStackFiles } from "./stack-files";
import { ISSUED_USER_PREFIX } from "./vocabulary";

/** The defaults of {@link PostgresLogMetrics}. */
export const POSTGRES_LOG_METRICS_DEFAULTS = {
  /** Where the program goes in the stack's output folder. */
  folder: "monitoring",
  /** The program's file name (mtail names a program's metrics' `prog` label after it). */
  fileName: "postgresql-log.mtail",
  /** The metrics' prefix: `<prefix>_postgres_login_failures_total`, … */
  metricPrefix: "vault_credentials",
  /** The `application` label of a failed login of the role Vault logs in as. */
  adminLabel: "vault_admin",
  /** The `application` label of a failed login of any other role. */
  unknownLabel: "unknown",
} as const;

/**
 * Why a login failed, from PostgreSQL's SQLSTATE and message: the `reason` label. Each entry is the SQLSTATE,
 * an optional pattern its message or detail must match (the first entry that matches wins), and what it means.
 * PostgreSQL reports failed logins only in its log (never in a catalog view), with these codes.
 */
export const LOGIN_FAILURE_REASONS = [
  {
    reason: "role_missing",
    code: "28P01",
    detail: "does not exist",
    means: "the role does not exist: a dropped (revoked or expired) credential, or a wrong name",
  },
  { reason: "password_expired", code: "28P01", detail: "expired password", means: "the role's VALID UNTIL has passed: an expired credential" },
  { reason: "wrong_password", code: "28P01", means: "the password is wrong" },
  {
    reason: "login_not_permitted",
    code: "28000",
    message: "not permitted to log in",
    means: "the role is NOLOGIN: a revocation that could not drop it",
  },
  { reason: "no_hba_entry", code: "28000", message: "no pg_hba.conf entry", means: "no pg_hba.conf line accepts this host, user, database and TLS" },
  { reason: "role_missing", code: "28000", message: "does not exist", means: "the role does not exist (a method without a password)" },
  { reason: "rejected", code: "28000", means: "refused by pg_hba.conf or a certificate check" },
  { reason: "no_connect_privilege", code: "42501", means: "the role may not CONNECT to the database" },
  { reason: "database_missing", code: "3D000", means: "the database does not exist" },
  {
    reason: "role_connection_limit",
    code: "53300",
    message: "too many connections for role",
    means: "the role holds its CONNECTION LIMIT of sessions",
  },
  { reason: "server_connection_limit", code: "53300", means: "the server has no connection slot left for this role (max_connections)" },
  { reason: "server_unavailable", code: "57P03", means: "the server is starting, shutting down or in recovery (a restart, a switchover)" },
] as const satisfies readonly { reason: string; code: string; message?: string; detail?: string; means: string }[];

/** A `reason` label value. */
export type LoginFailureReason = (typeof LOGIN_FAILURE_REASONS)[number]["reason"];

/** An application whose issued users get their own `application` label. */
export interface LogMetricsApplication {
  /** The label value. */
  readonly name: string;
  /** Its Vault role: its users are named `v-<display>-<first 8 characters of the role>-<random>-<time>`. */
  readonly vaultRole: string;
}

/** Props of {@link PostgresLogMetrics}. */
export interface PostgresLogMetricsProps {
  /** The applications, by Vault role (the lease audit's roles can be one more, labelled as one). */
  readonly applications: readonly LogMetricsApplication[];
  /** The role Vault logs in as: its failures are labelled {@link POSTGRES_LOG_METRICS_DEFAULTS}.adminLabel. */
  readonly adminUsername: string;
  /** @default POSTGRES_LOG_METRICS_DEFAULTS.metricPrefix */
  readonly metricPrefix?: string;
  /** @default POSTGRES_LOG_METRICS_DEFAULTS.folder */
  readonly folder?: string;
}

/** The metric names of a program with `prefix`. */
export function logMetricNames(prefix: string = POSTGRES_LOG_METRICS_DEFAULTS.metricPrefix) {
  return {
    /** counter by application, reason: failed logins. */
    failures: `${prefix}_postgres_login_failures_total`,
    /** gauge by application, reason: when mtail read the last one (unix time). */
    lastFailure: `${prefix}_postgres_login_failure_last_timestamp_seconds`,
    /** counter by application: logins PostgreSQL authorized (needs `log_connections = on`). */
    logins: `${prefix}_postgres_logins_total`,
  } as const;
}

/**
 * The PostgreSQL settings the program needs on every server it reads (a Patroni cluster's nodes included):
 * JSON lines, whose fields (`user`, `state_code`, `message`) a user name or a message cannot forge, since
 * PostgreSQL escapes them; FATAL is logged at any `log_min_messages` up to `fatal`.
 */
export const POSTGRES_LOG_SETTINGS = {
  logging_collector: "on",
  log_destination: "jsonlog",
  // one line per authorized login: the program counts them, and the lease audit's login every few minutes
  // keeps the log from going silent, so that a silent log means a broken pipeline.
  log_connections: "on",
} as const;

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const quoted = (s: string) => JSON.stringify(s);

/**
 * The mtail program: reads PostgreSQL's `jsonlog` and counts failed logins by application and reason (see
 * {@link LOGIN_FAILURE_REASONS}), with the time of the last one; and authorized logins by application. An
 * issued user maps to its application by the Vault role in its name (roles whose first 8 characters are the
 * same share one label, their names joined by `,`), the admin role to its own label, anything else to
 * `unknown`. Only fixed label values are exported: no user name, password or message reaches a metric.
 */
export function postgresLogProgram(props: PostgresLogMetricsProps): string {
  const d = POSTGRES_LOG_METRICS_DEFAULTS;
  const names = logMetricNames(props.metricPrefix ?? d.metricPrefix);
  const byPrefix = new Map<string, string[]>();
  for (const app of props.applications) {
    const key = app.vaultRole.slice(0, 8);
    byPrefix.set(key, [...(byPrefix.get(key) ?? []), app.name]);
  }
  const who: { test: string; label: string }[] = [
    ...[...byPrefix].map(([prefix, apps]) => ({
      test: `$user =~ /^${re(ISSUED_USER_PREFIX)}.*-${re(prefix)}-[A-Za-z0-9]{20}-[0-9]+$/`,
      label: apps.join(","),
    })),
    { test: `$user == ${quoted(props.adminUsername)}`, label: d.adminLabel },
  ];
  const chain = (tests: { test: string; body: string[] }[], otherwise: string[], indent: string): string[] => {
    if (tests.length === 0) return otherwise.map((l) => `${indent}${l}`);
    const [first, ...rest] = tests;
    return [
      `${indent}${first.test} {`,
      ...first.body.map((l) => `${indent}  ${l}`),
      `${indent}} else {`,
      ...chain(rest, otherwise, `${indent}  `),
      `${indent}}`,
    ];
  };
  const count = (label: string, reason: string) => [
    `${names.failures}[${quoted(label)}][${quoted(reason)}]++`,
    `${names.lastFailure}[${quoted(label)}][${quoted(reason)}] = timestamp()`,
  ];
  const reasons = (label: string) =>
    chain(
      LOGIN_FAILURE_REASONS.map((r) => {
        const field = "detail" in r ? "$detail" : "$message";
        const pattern = "detail" in r ? r.detail : "message" in r ? r.message : undefined;
        return {
          test: `$code == ${quoted(r.code)}${pattern ? ` && ${field} =~ /${re(pattern)}/` : ""}`,
          body: count(label, r.reason),
        };
      }),
      [],
      "",
    );
  const string = '(?:[^"\\\\]|\\\\.)*'; // a JSON string's contents
  const codes = [...new Set(LOGIN_FAILURE_REASONS.map((r) => r.code))].join("|");
  return [
    "# Failed and authorized logins from PostgreSQL's log (log_destination = 'jsonlog'), for mtail.",
    "# Generated by constructs/postgres-log-metrics.ts: change the stack, not this file.",
    `counter ${names.failures} by application, reason`,
    `gauge ${names.lastFailure} by application, reason`,
    `counter ${names.logins} by application`,
    "",
    "# A FATAL at login: the user PostgreSQL read from the startup packet, the SQLSTATE, the message and its detail.",
    `/^\\{"timestamp":"[^"]*","user":"(?P<user>${string})",.*"error_severity":"FATAL","state_code":"(?P<code>${codes})","message":"(?P<message>${string})"(?:,"detail":"(?P<detail>${string})")?/ {`,
    ...chain(
      who.map((w) => ({ test: w.test, body: reasons(w.label) })),
      reasons(d.unknownLabel),
      "  ",
    ),
    "}",
    "",
    "# A login PostgreSQL authorized (log_connections = on).",
    `/^\\{"timestamp":"[^"]*","user":"(?P<user>${string})",.*"error_severity":"LOG","message":"connection authorized: / {`,
    ...chain(
      who.map((w) => ({ test: w.test, body: [`${names.logins}[${quoted(w.label)}]++`] })),
      [`${names.logins}[${quoted(d.unknownLabel)}]++`],
      "  ",
    ),
    "}",
    "",
  ].join("\n");
}

/**
 * The log-to-metrics program of a PostgreSQL cluster's log, written beside the stack as
 * `<folder>/postgresql-log.mtail` for mtail (see {@link postgresLogProgram}; the server settings it needs:
 * {@link POSTGRES_LOG_SETTINGS}).
 */
export class PostgresLogMetrics extends Construct {
  /** The program's text. */
  public readonly program: string;
  /** Its metric names. */
  public readonly metrics: ReturnType<typeof logMetricNames>;

  constructor(scope: Construct, id: string, props: PostgresLogMetricsProps) {
    super(scope, id);
    const d = POSTGRES_LOG_METRICS_DEFAULTS;
    this.program = postgresLogProgram(props);
    this.metrics = logMetricNames(props.metricPrefix ?? d.metricPrefix);
    writeStackFiles(this, props.folder ?? d.folder, () => ({ [d.fileName]: this.program }));
  }
}
