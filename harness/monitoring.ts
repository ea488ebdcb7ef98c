/**
 * The monitoring pipeline on 127.0.0.1, from Debian's own programs (`tools/build.sh prometheus alertmanager mtail
 * node-exporter postgres-exporter`): mtail reading PostgreSQL's jsonlog with the stack's program, postgres_exporter
 * for the server's connection count, the node exporter's textfile collector serving what `npm run leases --format
 * prometheus` writes, Prometheus scraping the three and evaluating the stack's alert rules, Alertmanager routing the
 * alerts to a webhook receiver that records each notification.
 * The configurations are the ones docs/operations.md tells an operator to copy ({@link prometheusConfig},
 * {@link alertmanagerConfig}); only the addresses are the harness's.
 */
import { createServer, type Server } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { LOG_METRICS_JOB, MONITORING_FILES, POSTGRES_JOB } from "../stacks/alert-rules";
import type { LocalDeployment } from "./deployment";
import { jsonLogFile } from "./postgres";
import { freePort, runOk, startProcess, waitFor, type Started } from "./processes";

/** The programs, as `tools/build.sh` gives them. */
export interface MonitoringTools {
  readonly prometheus: string;
  readonly alertmanager: string;
  readonly mtail: string;
  readonly nodeExporter: string;
  readonly postgresExporter: string;
}

/** How often Prometheus scrapes and evaluates, and how long Alertmanager waits before a group's first notification. */
export const MONITORING_TIMING = {
  scrapeInterval: "10s",
  evaluationInterval: "10s",
  groupWait: "10s",
  groupInterval: "1m",
  repeatInterval: "4h",
} as const;

/** The node exporter's job (the lease audit's textfile). */
export const LEASES_JOB = "keybuzz-leases";

/** What {@link prometheusConfig} needs: where things are. */
export interface PrometheusConfigInput {
  /** The environment label of the mtail job (the lease audit's metrics carry their own). */
  readonly environment: string;
  /** mtail's address(es), `host:port`: one per PostgreSQL server (every Patroni node). */
  readonly mtail: readonly string[];
  /** The node exporter's address(es) serving the lease audit's textfile. */
  readonly nodeExporter: readonly string[];
  /** postgres_exporter's address(es): one per PostgreSQL server, for its connection count. */
  readonly postgresExporter: readonly string[];
  /** Alertmanager's address(es). */
  readonly alertmanagers: readonly string[];
  /** The rules file (the stack's `monitoring/alerts.yml`). */
  readonly rulesFile: string;
}

/** Prometheus's configuration. */
export function prometheusConfig(c: PrometheusConfigInput): string {
  const t = MONITORING_TIMING;
  return stringify(
    {
      global: { scrape_interval: t.scrapeInterval, evaluation_interval: t.evaluationInterval },
      rule_files: [c.rulesFile],
      alerting: { alertmanagers: [{ static_configs: [{ targets: c.alertmanagers }] }] },
      scrape_configs: [
        { job_name: LOG_METRICS_JOB, static_configs: [{ targets: c.mtail, labels: { environment: c.environment } }] },
        // the connection count and max_connections only: the rest of what it exports is not used by the rules.
        {
          job_name: POSTGRES_JOB,
          static_configs: [{ targets: c.postgresExporter, labels: { environment: c.environment } }],
          metric_relabel_configs: [
            { source_labels: ["__name__"], regex: "pg_up|pg_stat_activity_count|pg_settings_(max|superuser_reserved)_connections", action: "keep" },
          ],
        },
        // the audit's series carry their own environment label; the node exporter's others are not wanted here.
        {
          job_name: LEASES_JOB,
          static_configs: [{ targets: c.nodeExporter }],
          metric_relabel_configs: [{ source_labels: ["__name__"], regex: "keybuzz_.*|node_textfile_.*", action: "keep" }],
        },
      ],
    },
    { flowCollectionPadding: false },
  );
}

/** Alertmanager's configuration: every alert to one webhook, grouped by alert, environment and application. */
export function alertmanagerConfig(webhookUrl: string): string {
  const t = MONITORING_TIMING;
  return stringify(
    {
      route: {
        receiver: "keybuzz-oncall",
        group_by: ["alertname", "environment", "application"],
        group_wait: t.groupWait,
        group_interval: t.groupInterval,
        repeat_interval: t.repeatInterval,
      },
      receivers: [{ name: "keybuzz-oncall", webhook_configs: [{ url: webhookUrl, send_resolved: true }] }],
    },
    { flowCollectionPadding: false },
  );
}

/** One alert of a notification, as the webhook receives it. */
export interface NotifiedAlert {
  readonly status: "firing" | "resolved";
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
}

/** A notification the receiver got, with when it arrived (ms since the epoch). */
export interface Notification {
  readonly receivedAt: number;
  readonly status: string;
  readonly alerts: readonly NotifiedAlert[];
  /** The request body as sent. */
  readonly raw: string;
}

/** Failed logins of one application for one reason, as the stack's program counts them. */
export interface LoginFailureCount {
  readonly application: string;
  readonly reason: string;
  readonly count: number;
}

/** The failed-login counter lines of mtail's Prometheus output, parsed. */
export function parseFailureCounts(text: string): LoginFailureCount[] {
  return [...text.matchAll(/^\w+_postgres_login_failures_total\{([^}]*)\} (\d+)$/gm)].map(([, labels, count]) => {
    const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1] ?? "";
    return { application: label("application"), reason: label("reason"), count: Number(count) };
  });
}

/**
 * Reads whole log files once with mtail (`--one_shot`) and the program at `program`: what a running mtail would
 * have counted from them (e.g. the logs of a Patroni cluster's nodes through a switchover).
 */
export async function countLoginFailures(mtail: string, program: string, logFiles: readonly string[]): Promise<LoginFailureCount[]> {
  const { stdout } = await runOk(mtail, [
    "--one_shot",
    "--one_shot_format",
    "prometheus",
    "--emit_prog_label=false",
    "--logtostderr",
    "--progs",
    program,
    ...logFiles.flatMap((f) => ["--logs", f]),
  ]);
  return parseFailureCounts(stdout);
}

/** The programs a pipeline runs. */
export type ProgramName = "mtail" | "node exporter" | "postgres exporter" | "alertmanager" | "prometheus";

/** An alert as `alertname{label=value,…}`. */
export function alertLine(a: Pick<NotifiedAlert, "labels">): string {
  const { alertname, ...rest } = a.labels;
  return `${alertname}{${Object.entries(rest)
    .map(([k, v]) => `${k}=${v}`)
    .join(",")}}`;
}

/** Where the pipeline is and what it got. */
export class MonitoringPipeline {
  /** Every notification the webhook received, in order. */
  readonly notifications: Notification[] = [];
  /** The folder the node exporter's textfile collector reads: write `*.prom` files here. */
  readonly textfileDir: string;
  readonly addresses = { prometheus: "", alertmanager: "", mtail: "", nodeExporter: "", postgresExporter: "", webhook: "" };
  private readonly processes: { name: string; started: Started }[] = [];
  private webhook?: Server;

  private constructor(
    private readonly dir: string,
    private readonly log: (line: string) => void,
  ) {
    this.textfileDir = join(dir, "textfile");
    mkdirSync(this.textfileDir);
  }

  /**
   * Starts the receiver, mtail (on `logs`, a glob of PostgreSQL's jsonlog files, with the program at
   * `program`), postgres_exporter (as `postgres` through the server's Unix socket in `socketDir`, which trusts
   * local logins here: on a real host, peer authentication, so no password either), the node exporter,
   * Alertmanager and Prometheus (with `rulesFile`), each on a free port of
   * 127.0.0.1; waits until each answers, and Prometheus has scraped both targets. Stops what it started
   * when one fails.
   */
  static async start(o: {
    tools: MonitoringTools;
    program: string;
    logs: string;
    postgres: { socketDir: string; port: number; database: string };
    rulesFile: string;
    environment: string;
    parentDir: string;
    log: (line: string) => void;
  }): Promise<MonitoringPipeline> {
    const p = new MonitoringPipeline(mkdtempSync(join(o.parentDir, "monitoring-")), o.log);
    try {
      await p.startAll(o);
    } catch (err) {
      const tails = p.processes.map(({ name, started }) => `--- ${name}\n${started.output().split("\n").slice(-15).join("\n")}`).join("\n");
      await p.stop();
      throw new Error(`${(err as Error).message}\n${tails}`);
    }
    return p;
  }

  /**
   * {@link start} on a deployed `local` stack: its synthesized log program and rules, its PostgreSQL's jsonlog
   * (the server started with LOGGED_SETTINGS) and socket, in a folder of the deployment's.
   */
  static forDeployment(env: LocalDeployment, tools: MonitoringTools, log: (line: string) => void): Promise<MonitoringPipeline> {
    const dir = join(env.stackDir, MONITORING_FILES.folder);
    return MonitoringPipeline.start({
      tools,
      program: join(dir, MONITORING_FILES.program),
      logs: jsonLogFile(env.pg.logDirectory),
      postgres: { socketDir: env.pg.socketDir, port: env.pg.port, database: env.databaseName },
      rulesFile: join(dir, MONITORING_FILES.rules),
      environment: "local",
      parentDir: env.dir,
      log,
    });
  }

  private async startAll(o: Parameters<typeof MonitoringPipeline.start>[0]): Promise<void> {
    const [webhook, mtail, nodeExporter, postgresExporter, alertmanager, prometheus] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
    const at = (port: number) => `127.0.0.1:${port}`;
    Object.assign(this.addresses, {
      webhook: at(webhook),
      mtail: at(mtail),
      nodeExporter: at(nodeExporter),
      postgresExporter: at(postgresExporter),
      alertmanager: at(alertmanager),
      prometheus: at(prometheus),
    });
    this.webhook = await this.listen(webhook);
    this.spawn("mtail", o.tools.mtail, [
      "--progs",
      o.program,
      "--logs",
      o.logs,
      "--address",
      "127.0.0.1",
      "--port",
      String(mtail),
      "--emit_prog_label=false",
      "--logtostderr",
    ]);
    this.spawn("node exporter", o.tools.nodeExporter, [
      `--web.listen-address=${at(nodeExporter)}`,
      "--collector.disable-defaults",
      "--collector.textfile",
      `--collector.textfile.directory=${this.textfileDir}`,
    ]);
    this.spawn(
      "postgres exporter",
      o.tools.postgresExporter,
      [`--web.listen-address=${at(postgresExporter)}`, "--no-collector.database", "--no-collector.bgwriter"],
      { DATA_SOURCE_NAME: `host=${o.postgres.socketDir} port=${o.postgres.port} user=postgres dbname=${o.postgres.database} sslmode=disable` },
    );
    const amConfig = join(this.dir, "alertmanager.yml");
    writeFileSync(amConfig, alertmanagerConfig(`http://${this.addresses.webhook}/alerts`));
    this.spawn("alertmanager", o.tools.alertmanager, [
      `--config.file=${amConfig}`,
      `--storage.path=${join(this.dir, "alertmanager")}`,
      `--web.listen-address=${at(alertmanager)}`,
      "--cluster.listen-address=", // no gossip: one Alertmanager, nothing on another port.
    ]);
    const promConfig = join(this.dir, "prometheus.yml");
    writeFileSync(
      promConfig,
      prometheusConfig({
        environment: o.environment,
        mtail: [at(mtail)],
        nodeExporter: [at(nodeExporter)],
        postgresExporter: [at(postgresExporter)],
        alertmanagers: [at(alertmanager)],
        rulesFile: o.rulesFile,
      }),
    );
    this.spawn("prometheus", o.tools.prometheus, [
      `--config.file=${promConfig}`,
      `--storage.tsdb.path=${join(this.dir, "prometheus")}`,
      `--web.listen-address=${at(prometheus)}`,
    ]);
    await waitFor("Alertmanager to be ready", async () => (await fetch(`http://${at(alertmanager)}/-/ready`)).ok, 60_000);
    await waitFor("Prometheus to be ready", async () => (await fetch(`http://${at(prometheus)}/-/ready`)).ok, 60_000);
    await waitFor(
      "Prometheus to scrape mtail and both exporters",
      async () => {
        const up = await this.query("up");
        const pgUp = await this.query("pg_up");
        return up.length === 3 && up.every((s) => s.value === "1") && pgUp.length === 1 && pgUp[0].value === "1";
      },
      60_000,
    );
    this.log(`Prometheus http://${at(prometheus)}, Alertmanager http://${at(alertmanager)}, mtail http://${at(mtail)}/metrics`);
  }

  private spawn(name: string, binary: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
    const started = startProcess(binary, args, { cwd: this.dir, env: { ...process.env, ...env } });
    this.processes.push({ name, started });
  }

  private listen(port: number): Promise<Server> {
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c;
      });
      req.on("end", () => {
        try {
          const parsed = JSON.parse(body) as { status: string; alerts: NotifiedAlert[] };
          this.notifications.push({ receivedAt: Date.now(), status: parsed.status, alerts: parsed.alerts, raw: body });
          for (const a of parsed.alerts) this.log(`notified: ${a.status} ${alertLine(a)}: ${a.annotations.summary ?? ""}`);
        } catch {
          this.log(`webhook: a body that is not JSON: ${body.slice(0, 200)}`);
        }
        res.writeHead(200).end();
      });
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve(server));
    });
  }

  /** An instant query; each series' labels and value. */
  async query(promql: string): Promise<{ labels: Record<string, string>; value: string }[]> {
    const res = await fetch(`http://${this.addresses.prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== "success") throw new Error(`Prometheus query ${promql}: ${body.error}`);
    return body.data.result.map((r) => ({ labels: r.metric, value: r.value[1] }));
  }

  /** The text of one of the pipeline's `/metrics` pages (mtail's or the node exporter's). */
  async metricsText(of: "mtail" | "nodeExporter" | "postgresExporter"): Promise<string> {
    return (await fetch(`http://${this.addresses[of]}/metrics`)).text();
  }

  /** The first firing alert named `alertname` whose labels include `labels`, with when its notification arrived. */
  firing(alertname: string, labels: Record<string, string> = {}): { alert: NotifiedAlert; receivedAt: number } | undefined {
    for (const n of this.notifications) {
      for (const alert of n.alerts) {
        if (alert.status !== "firing" || alert.labels.alertname !== alertname) continue;
        if (Object.entries(labels).every(([k, v]) => alert.labels[k] === v)) return { alert, receivedAt: n.receivedAt };
      }
    }
    return undefined;
  }

  /** Every firing alert notified so far, as `alertname{labels}` lines (for messages). */
  firingSummary(): string[] {
    return this.notifications.flatMap((n) => n.alerts.filter((a) => a.status === "firing").map(alertLine));
  }

  /** Output of one of the programs (for a failure's message). */
  output(name: ProgramName): string {
    return this.processes.find((p) => p.name === name)?.started.output() ?? "";
  }

  /** Stops one program (SIGTERM) and waits for it, e.g. to make the pipeline go silent. */
  async stopProgram(name: ProgramName): Promise<void> {
    const p = this.processes.find((x) => x.name === name);
    p?.started.signal("SIGTERM");
    await p?.started.exited;
  }

  /** Stops everything and removes the folder; safe to call twice. */
  async stop(): Promise<void> {
    for (const { started } of this.processes) started.signal("SIGTERM");
    await Promise.all(
      this.processes.map(({ started }) =>
        Promise.race([started.exited, new Promise((r) => setTimeout(r, 10_000)).then(() => started.signal("SIGKILL"))]),
      ),
    );
    await new Promise<void>((resolve) => (this.webhook ? this.webhook.close(() => resolve()) : resolve()));
    this.webhook = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
