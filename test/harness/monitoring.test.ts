import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { LOGIN_FAILURE_REASONS } from "../../constructs/postgres-log-metrics";
import { alertLine, alertmanagerConfig, MONITORING_TIMING, parseFailureCounts, prometheusConfig } from "../../harness/monitoring";
import { ALERT_GROUPS, LOG_METRICS_JOB, POSTGRES_JOB } from "../../stacks/alert-rules";

const OPERATIONS = readFileSync(join(__dirname, "..", "..", "docs", "operations.md"), "utf8");
const SECTION = OPERATIONS.slice(OPERATIONS.indexOf("## Alerts: failed logins"), OPERATIONS.indexOf("## Behind HAProxy"));

/** The example docs/operations.md shows (hosts by name: the page is read, never dialled). */
const DOCS_EXAMPLE = {
  prometheus: prometheusConfig({
    environment: "prod",
    mtail: ["db-postgres-01:3903", "db-postgres-02:3903", "db-postgres-03:3903"],
    nodeExporter: ["vault-01:9100"],
    postgresExporter: ["db-postgres-01:9187", "db-postgres-02:9187", "db-postgres-03:9187"],
    alertmanagers: ["127.0.0.1:9093"],
    rulesFile: "/etc/prometheus/keybuzz/alerts.yml",
  }),
  alertmanager: alertmanagerConfig("https://oncall.example/keybuzz"),
};

/** The reasons table of docs/operations.md, from LOGIN_FAILURE_REASONS. */
function reasonsTable(): string {
  const rows = LOGIN_FAILURE_REASONS.map((r) => {
    const on = "detail" in r ? `detail: *${r.detail}*` : "message" in r ? `message: *${r.message}*` : "any other";
    return `| \`${r.reason}\` | \`${r.code}\` | ${on} | ${r.means} |`;
  });
  return ["| reason | SQLSTATE | matched on | means |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

describe("the monitoring configurations", () => {
  it("Prometheus scrapes mtail with the environment label and the audit's textfile, evaluates the rules, sends to Alertmanager", () => {
    const c = parse(DOCS_EXAMPLE.prometheus);
    expect(c.global).toEqual({ scrape_interval: MONITORING_TIMING.scrapeInterval, evaluation_interval: MONITORING_TIMING.evaluationInterval });
    expect(c.scrape_configs[0]).toEqual({
      job_name: LOG_METRICS_JOB,
      static_configs: [{ targets: ["db-postgres-01:3903", "db-postgres-02:3903", "db-postgres-03:3903"], labels: { environment: "prod" } }],
    });
    expect(c.scrape_configs[1].job_name).toBe(POSTGRES_JOB);
    expect(c.scrape_configs[1].static_configs[0].labels).toEqual({ environment: "prod" });
    expect(c.scrape_configs[2].static_configs).toEqual([{ targets: ["vault-01:9100"] }]);
    expect(c.alerting.alertmanagers[0].static_configs[0].targets).toEqual(["127.0.0.1:9093"]);
    expect(c.rule_files).toEqual(["/etc/prometheus/keybuzz/alerts.yml"]);
  });

  it("Alertmanager groups by alert, environment and application, and says when an alert resolves", () => {
    const c = parse(DOCS_EXAMPLE.alertmanager);
    expect(c.route.group_by).toEqual(["alertname", "environment", "application"]);
    expect(c.route.group_wait).toBe(MONITORING_TIMING.groupWait);
    expect(c.receivers[0].webhook_configs).toEqual([{ url: "https://oncall.example/keybuzz", send_resolved: true }]);
  });
});

describe("docs/operations.md, Alerts", () => {
  it("shows the configurations the suites run, as the harness writes them", () => {
    const blocks = [...SECTION.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks).toEqual([DOCS_EXAMPLE.prometheus, DOCS_EXAMPLE.alertmanager]);
  });

  it("lists every reason the log program tells apart", () => {
    expect(SECTION).toContain(reasonsTable());
  });

  it("lists every alert of the shipped rules with its severity, and no other", () => {
    const rows = SECTION.split("\n").filter((l) => /^\| `Keybuzz\w+` \|/.test(l));
    const documented = rows.map((l) => {
      const [, alert, severity] = l.split("|").map((c) => c.trim());
      return `${alert.replace(/`/g, "")} ${severity}`;
    });
    const rules = ALERT_GROUPS.flatMap((g) => g.rules.map((r) => `${r.alert} ${r.labels.severity}`));
    expect(documented.sort()).toEqual(rules.sort());
  });
});

describe("reading mtail's output", () => {
  it("parses the failure counters, whatever the prefix, and leaves other series out", () => {
    const text = [
      "# TYPE keybuzz_postgres_login_failures_total counter",
      'keybuzz_postgres_login_failures_total{application="chatwoot",reason="wrong_password"} 3',
      'keybuzz_postgres_login_failure_last_timestamp_seconds{application="chatwoot",reason="wrong_password"} 1.7e+09',
      'kb_postgres_login_failures_total{application="unknown",reason="server_unavailable"} 1',
      'keybuzz_postgres_logins_total{application="chatwoot"} 9',
    ].join("\n");
    expect(parseFailureCounts(text)).toEqual([
      { application: "chatwoot", reason: "wrong_password", count: 3 },
      { application: "unknown", reason: "server_unavailable", count: 1 },
    ]);
  });

  it("writes an alert as alertname{labels}", () => {
    expect(alertLine({ labels: { alertname: "KeybuzzOrphanUsers", application: "workers", kind: "orphan_user" } })).toBe(
      "KeybuzzOrphanUsers{application=workers,kind=orphan_user}",
    );
  });
});
