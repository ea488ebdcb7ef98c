/**
 * KeyBuzz's Prometheus alert rules, one file for every environment (`monitoring/alerts.yml` beside each stack):
 * the lease audit's (on what `npm run leases --format prometheus` writes) and PostgreSQL's failed logins (on what
 * the stack's mtail program reads from PostgreSQL's log, constructs/postgres-log-metrics.ts). promtool checks and
 * unit-tests them (test/leases/alert-rules.integration.test.ts), and the monitoring suite fires them in a real
 * Prometheus and Alertmanager (test/e2e/monitoring.test.ts). docs/operations.md lists each with what to do.
 */
import { LOGIN_FAILURE_REASONS, POSTGRES_LOG_METRICS_DEFAULTS, logMetricNames, type LoginFailureReason } from "../constructs/postgres-log-metrics";

/** The metric prefix of KeyBuzz's log metrics (`keybuzz_postgres_login_failures_total`, …). */
export const LOG_METRIC_PREFIX = "keybuzz";
/** The `job` of the mtail scrape in the Prometheus configuration the rules expect (docs/operations.md). */
export const LOG_METRICS_JOB = "keybuzz-postgres-log";
/** The `job` of the postgres_exporter scrape (the server's connection count and `max_connections`). */
export const POSTGRES_JOB = "keybuzz-postgres";
/** The share of the connection slots open to applications (max_connections less the superuser's) past which a server is "near" its limit. */
export const NEAR_MAX_CONNECTIONS = 0.8;
/** The `application` label of the lease audit's own users. */
export const LEASE_AUDIT_LABEL = "leases-audit";
/** How long one failed login keeps its alert firing. */
export const FAILURE_WINDOW = "5m";
/**
 * Where each stack's monitoring files go, in its output folder (`cdktf.out/stacks/keybuzz-<env>/<folder>/`): the
 * log program (written by the PostgresLogMetrics construct) and these rules (written by the stack).
 */
export const MONITORING_FILES = {
  folder: POSTGRES_LOG_METRICS_DEFAULTS.folder,
  program: POSTGRES_LOG_METRICS_DEFAULTS.fileName,
  rules: "alerts.yml",
} as const;

/** One alerting rule, as Prometheus reads it. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: { readonly severity: "page" | "ticket" };
  readonly annotations: { readonly summary: string; readonly action: string };
}

const m = logMetricNames(LOG_METRIC_PREFIX);
const { adminLabel, unknownLabel } = POSTGRES_LOG_METRICS_DEFAULTS;
const reasons = (...r: LoginFailureReason[]) => r.join("|");
/** Failures of an application's own credentials; a restart's or switchover's refusals and the limits are not. */
const CREDENTIAL_REASONS = [...new Set(LOGIN_FAILURE_REASONS.map((r) => r.reason))].filter(
  (r) => !["server_unavailable", "role_connection_limit", "server_connection_limit"].includes(r),
) as LoginFailureReason[];
/** A series whose last failure is within the window: `<selector> > time() - window`. */
const recent = (selector: string) => `${m.lastFailure}{${selector}} > time() - ${seconds(FAILURE_WINDOW)}`;
function seconds(duration: string): number {
  const [, n, unit] = /^(\d+)([smh])$/.exec(duration) ?? [];
  return Number(n) * { s: 1, m: 60, h: 3600 }[unit as "s" | "m" | "h"];
}

/** The lease audit's rules (on its textfile metrics). */
export const LEASE_RULES: readonly AlertRule[] = [
  {
    alert: "KeybuzzVaultCannotReachPostgres",
    expr: "keybuzz_leases_probe_success == 0",
    for: "5m",
    labels: { severity: "page" },
    annotations: {
      summary: "{{ $labels.environment }}: Vault cannot issue credentials (the lease audit's probe fails)",
      action: "Read the probe's error in npm run leases; check vault_admin's password and PostgreSQL's reachability from Vault.",
    },
  },
  {
    alert: "KeybuzzLeaseAuditNotRunning",
    expr: "keybuzz_leases_audit_success == 0 or time() - keybuzz_leases_audit_timestamp_seconds > 1800 or absent(keybuzz_leases_audit_success)",
    for: "10m",
    labels: { severity: "ticket" },
    annotations: {
      summary: "{{ $labels.environment }}: the lease audit could not look, or has not run for 30 minutes",
      action: "Run npm run leases by hand and read why it exits 1; check its timer and its token.",
    },
  },
  {
    alert: "KeybuzzIrrevocableLeases",
    expr: "sum by (environment, application) (keybuzz_leases_irrevocable) > 0",
    labels: { severity: "page" },
    annotations: {
      summary: "{{ $labels.environment }}/{{ $labels.application }}: Vault gave up revoking leases; their users are still there",
      action: "Fix the cause in Vault's last error, then vault lease revoke -sync <lease id> (never -force).",
    },
  },
  {
    alert: "KeybuzzOrphanUsers",
    expr: 'sum by (environment, application, kind) (keybuzz_leases_findings{kind=~"orphan_user|revoked_not_dropped"}) > 0',
    labels: { severity: "page" },
    annotations: {
      summary: "{{ $labels.environment }}/{{ $labels.application }}: {{ $value }} {{ $labels.kind }}: a user no lease will ever drop",
      action: "npm run leases -- --env {{ $labels.environment }} --fix, then --fix --apply with the fix policy's token.",
    },
  },
  {
    alert: "KeybuzzLeaseFindings",
    expr: 'sum by (environment, application, kind) (keybuzz_leases_findings{kind!~"probe_failed|irrevocable_lease|orphan_user|revoked_not_dropped|over_budget"}) > 0',
    for: "15m",
    labels: { severity: "ticket" },
    annotations: {
      summary:
        "{{ $labels.environment }}/{{ $labels.application }}: {{ $value }} {{ $labels.kind }}; run npm run leases -- --env {{ $labels.environment }} --fix",
      action: "npm run leases -- --env {{ $labels.environment }} --fix says what it would do and what it leaves to a person.",
    },
  },
  {
    alert: "KeybuzzLeaseBudgetExceeded",
    // both series come from the same audit's textfile: their labels match one to one.
    expr: "keybuzz_leases_active > keybuzz_leases_budget",
    labels: { severity: "page" },
    annotations: {
      summary: "{{ $labels.environment }}/{{ $labels.application }}: {{ $value }} active leases, over its lease budget (a crash loop?)",
      action:
        "Find what takes credentials without ending them (a crash-looping pod, a CronJob, processes killed before they revoke) and stop it; each lease ends with its TTL. Raise leaseBudget only if the application really runs more processes.",
    },
  },
  {
    alert: "KeybuzzLeasesPendingRevocation",
    expr: "sum by (environment, application) (keybuzz_leases_pending_revocation) > 0",
    for: "10m",
    labels: { severity: "ticket" },
    annotations: {
      summary: "{{ $labels.environment }}/{{ $labels.application }}: expired leases not revoked for 10 minutes (PostgreSQL unreachable?)",
      action: "Check that Vault reaches PostgreSQL; past about 10 minutes Vault gives up and the leases turn irrevocable.",
    },
  },
];

/** PostgreSQL's rules (on the log metrics of the stack's mtail program). */
export const POSTGRES_RULES: readonly AlertRule[] = [
  {
    alert: "KeybuzzApplicationLoginFailing",
    expr: `max by (environment, application, reason) (${recent(`application!~"${adminLabel}|${LEASE_AUDIT_LABEL}|${unknownLabel}",reason=~"${reasons(...CREDENTIAL_REASONS)}"`)})`,
    labels: { severity: "page" },
    annotations: {
      summary: "{{ $labels.environment }}/{{ $labels.application }}: its PostgreSQL logins fail ({{ $labels.reason }})",
      action:
        '{{ if eq $labels.reason "role_missing" "password_expired" "login_not_permitted" }}The application still uses credentials that were revoked or expired: check its Vault Agent (is it renewing, did it restart the application on new credentials?).{{ else if eq $labels.reason "wrong_password" }}The application sends a password PostgreSQL does not accept: check what its agent renders and that nothing overrides it.{{ else }}PostgreSQL refuses the login before the password ({{ $labels.reason }}): check pg_hba.conf, CONNECT on the database and the database\'s name.{{ end }}',
    },
  },
  {
    alert: "KeybuzzVaultAdminLoginFailing",
    expr: `max by (environment, reason) (${recent(`application="${adminLabel}",reason!="server_unavailable"`)})`,
    labels: { severity: "page" },
    annotations: {
      summary: "{{ $labels.environment }}: Vault cannot log in to PostgreSQL as its admin role ({{ $labels.reason }})",
      action:
        "Vault's connection holds a password PostgreSQL no longer accepts: was the admin password changed outside the stack? Push it again: bump vaultAdmin.passwordVersion and deploy with TF_VAR_vault_admin_password.",
    },
  },
  {
    alert: "KeybuzzRoleAtConnectionLimit",
    expr: `max by (environment, application) (${recent('reason="role_connection_limit"')})`,
    labels: { severity: "ticket" },
    annotations: {
      summary: "{{ $labels.environment }}/{{ $labels.application }}: a user of it is at its CONNECTION LIMIT; logins are refused",
      action:
        "The application opens more sessions per credential than applications[].connectionLimit allows: size its pool below it, or raise the limit.",
    },
  },
  {
    alert: "KeybuzzPostgresOutOfConnections",
    expr: `max by (environment, application) (${recent('reason="server_connection_limit"')})`,
    labels: { severity: "page" },
    annotations: {
      summary:
        "{{ $labels.environment }}: PostgreSQL refuses logins for lack of connection slots (max_connections), {{ $labels.application }} among them",
      action: "Find who holds the sessions (pg_stat_activity by usename), shrink pools or raise max_connections.",
    },
  },
  {
    alert: "KeybuzzPostgresNearMaxConnections",
    expr: `sum by (environment, instance) (pg_stat_activity_count{job="${POSTGRES_JOB}"}) > ${NEAR_MAX_CONNECTIONS} * max by (environment, instance) (pg_settings_max_connections{job="${POSTGRES_JOB}"} - pg_settings_superuser_reserved_connections{job="${POSTGRES_JOB}"})`,
    for: "1m",
    labels: { severity: "ticket" },
    annotations: {
      summary: `{{ $labels.environment }}/{{ $labels.instance }}: {{ $value }} sessions, over ${NEAR_MAX_CONNECTIONS * 100} % of the slots applications may use (max_connections)`,
      action:
        "Find who holds the sessions (pg_stat_activity by usename): a pool sized too large or leaking, or leases piling up; before logins are refused.",
    },
  },
  {
    alert: "KeybuzzPostgresLoginStorm",
    expr: `sum by (environment, application) (rate(${m.failures}[2m])) * 60 > 30`,
    for: "1m",
    labels: { severity: "page" },
    annotations: {
      summary: "{{ $labels.environment }}/{{ $labels.application }}: more than 30 failed PostgreSQL logins a minute",
      action: "A crash-looping client or someone guessing passwords: find the source address in PostgreSQL's log (remote_host).",
    },
  },
  {
    alert: "KeybuzzPostgresLogSilent",
    expr: `up{job="${LOG_METRICS_JOB}"} == 0 or absent(up{job="${LOG_METRICS_JOB}"}) or sum by (environment) (increase(mtail_log_lines_total{job="${LOG_METRICS_JOB}"}[30m])) == 0`,
    for: "5m",
    labels: { severity: "ticket" },
    annotations: {
      summary: "{{ $labels.environment }}: nothing reads PostgreSQL's log, so no failed login would be seen",
      action: "Check that mtail runs, that its --logs glob matches PostgreSQL's jsonlog file, and that log_connections is on.",
    },
  },
];

/** Both groups, as Prometheus reads them. */
export const ALERT_GROUPS = [
  { name: "keybuzz-leases", rules: LEASE_RULES },
  { name: "keybuzz-postgres-logins", rules: POSTGRES_RULES },
] as const;

/** The rules file's text (YAML: every string JSON-quoted, which YAML reads as is). */
export function alertRulesFile(): string {
  const q = JSON.stringify;
  const lines = ["# KeyBuzz's alert rules. Generated by stacks/alert-rules.ts: change that file, not this one.", "groups:"];
  for (const group of ALERT_GROUPS) {
    lines.push(`  - name: ${q(group.name)}`, "    rules:");
    for (const r of group.rules) {
      lines.push(`      - alert: ${r.alert}`, `        expr: ${q(r.expr)}`);
      if (r.for) lines.push(`        for: ${r.for}`);
      lines.push("        labels:", `          severity: ${r.labels.severity}`);
      lines.push("        annotations:", `          summary: ${q(r.annotations.summary)}`, `          action: ${q(r.annotations.action)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
