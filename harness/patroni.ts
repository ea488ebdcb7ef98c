/**
 * The runbook's topology on loopback: one etcd member, two (or more) PostgreSQL nodes managed by Patroni
 * (streaming replication, asynchronous or synchronous), and HAProxy in front, sending connections to
 * whichever node Patroni's REST API calls the primary (`option httpchk OPTIONS /primary`). Clients (Vault,
 * Terraform's providers, applications) see one address: HAProxy's port, {@link PatroniCluster.port}.
 *
 * Everything comes from Debian's packages (`patroni`, `etcd-server`, `haproxy`: `tools/build.sh
 * ha-topology` installs them) and the machine's PostgreSQL server binaries. etcd, Patroni and so
 * PostgreSQL run as the `postgres` user when we are root (PostgreSQL refuses root); every port is a free
 * 127.0.0.1 port, every file lives in one temp folder that {@link PatroniCluster.stop} removes.
 *
 * Patroni is tuned for a test, not for production: a 10 s leader TTL checked every second, and
 * `primary_start_timeout: 0`, so a crashed primary is failed over at once instead of restarted in place.
 * Patroni logs warnings only; KEYBUZZ_PATRONI_LOG=INFO shows its every decision, and a failed start
 * quotes the last KEYBUZZ_PATRONI_TAIL (default 15) lines of each process's output.
 */
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { execFileSync, type SpawnOptions } from "node:child_process";
import type { ClientConfig } from "pg";
import { LOGGED_SETTINGS, jsonLogFile, postmasterPid, queryWith, tryLoginWith } from "./postgres";
import { freePort, run, runOk, startProcess, waitFor, type Started } from "./processes";
import { tcpProxyConfig } from "./haproxy";

/** The programs of the topology (the manifest keys of `tools/build.sh ha-topology`). */
export interface HaPrograms {
  readonly patroni: string;
  readonly patronictl: string;
  readonly etcd: string;
  readonly haproxy: string;
}

export type ReplicationMode = "async" | "sync";

export interface PatroniOptions {
  /** The PostgreSQL server binaries Patroni runs (initdb, pg_ctl, postgres, pg_rewind, pg_basebackup). */
  readonly binDir: string;
  readonly programs: HaPrograms;
  /** `sync`: Patroni's `synchronous_mode` (a commit waits for the synchronous standby). @default "async" */
  readonly replication?: ReplicationMode;
  /** @default 2 */
  readonly nodes?: number;
  /** Where the cluster's folder goes; the `postgres` user must be able to pass through it. @default the temp folder */
  readonly parentDir?: string;
  /**
   * Serve TLS on every node with this certificate and key (copied into each node's folder, the key 0600 and
   * the server's), and accept TCP logins over TLS only (`hostssl`). HAProxy passes TLS through (`mode tcp`),
   * so a client checks the node's certificate against the name it dialled. With `caFile`, the cluster's own
   * clients ({@link PatroniCluster.config}) verify it too; without, they encrypt without checking.
   */
  readonly ssl?: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string };
  /** HAProxy's `timeout client` and `timeout server`: how long an idle connection through it lives. @default 1800 */
  readonly idleTimeoutSeconds?: number;
  /** Progress lines (e.g. the environment's `log`). */
  readonly log?: (message: string) => void;
}

/** One member as Patroni's `GET /cluster` reports it. */
export interface Member {
  readonly name: string;
  /** `leader`, `replica` or `sync_standby`. */
  readonly role: string;
  /** `running`, `starting`, `stopped`, `crashed`, ... (Patroni 3.0 has no `streaming` state yet) */
  readonly state: string;
  readonly timeline?: number;
  /** Replication lag in bytes (replicas), or "unknown". */
  readonly lag?: number | string;
}

/** One Patroni node: its PostgreSQL and REST API ports on 127.0.0.1, its folder and its config file. */
export interface PatroniNode {
  readonly name: string;
  readonly pgPort: number;
  readonly restPort: number;
  readonly dir: string;
  readonly configFile: string;
  process?: Started;
}

/** Patroni's timing: the leader key lives `ttl` s; each member runs its loop every `loop_wait` s. */
export const PATRONI_TIMING = { ttl: 10, loop_wait: 1, retry_timeout: 4 } as const;
/** HAProxy's health checks: every `inter` ms, down after `fall` failures, up after `rise` successes. */
export const HAPROXY_CHECK = { inter: 1000, fall: 2, rise: 1 } as const;
/** HAProxy's idle timeouts (`timeout client/server`) unless given: 30 min, above Vault's max_connection_lifetime (5 min). */
export const HAPROXY_IDLE_TIMEOUT_S = 1800;

/** What {@link patroniConfig} makes a node's config from. */
export interface PatroniConfigInput {
  /** Patroni's cluster name. */
  readonly scope: string;
  readonly node: PatroniNode;
  readonly etcdPort: number;
  readonly replication: ReplicationMode;
  /** TLS on (the node's server.crt and server.key), and TCP logins over TLS only. */
  readonly ssl: boolean;
  readonly binDir: string;
  readonly superuser: { readonly username: string; readonly password: string };
  readonly replicationPassword: string;
  /** Patroni's log level, e.g. WARNING. */
  readonly logLevel: string;
}

/** A node's Patroni config (JSON, which Patroni reads as YAML): etcd, the bootstrap's DCS settings, PostgreSQL's listener and pg_hba. */
export function patroniConfig(c: PatroniConfigInput): unknown {
  const { node } = c;
  const auth = "scram-sha-256";
  const host = c.ssl ? "hostssl" : "host";
  const ssl = c.ssl ? { ssl: "on", ssl_cert_file: join(node.dir, "server.crt"), ssl_key_file: join(node.dir, "server.key") } : {};
  return {
    scope: c.scope,
    namespace: "/keybuzz-test/",
    name: node.name,
    log: { level: c.logLevel },
    restapi: { listen: `127.0.0.1:${node.restPort}`, connect_address: `127.0.0.1:${node.restPort}` },
    etcd3: { hosts: `127.0.0.1:${c.etcdPort}` },
    bootstrap: {
      dcs: {
        ...PATRONI_TIMING,
        maximum_lag_on_failover: 1048576,
        // fail a crashed primary over at once rather than restart it in place (Patroni's default: 300 s).
        primary_start_timeout: 0,
        synchronous_mode: c.replication === "sync",
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            wal_level: "replica",
            hot_standby: "on",
            wal_log_hints: "on",
            max_wal_senders: 10,
            max_replication_slots: 10,
            max_connections: 200,
            password_encryption: auth,
          },
        },
      },
      initdb: [{ encoding: "UTF8" }, { locale: "C.UTF-8" }],
    },
    postgresql: {
      listen: `127.0.0.1:${node.pgPort}`,
      connect_address: `127.0.0.1:${node.pgPort}`,
      data_dir: join(node.dir, "data"),
      bin_dir: c.binDir,
      pgpass: join(node.dir, "pgpass"),
      authentication: {
        superuser: c.superuser,
        replication: { username: "replicator", password: c.replicationPassword },
      },
      // the settings the stack's log program needs (monitoring/postgresql-log.mtail), on every node.
      parameters: {
        unix_socket_directories: node.dir,
        fsync: "off",
        log_min_messages: "warning",
        ...LOGGED_SETTINGS,
        ...ssl,
      },
      pg_hba: ["local all all trust", `${host} replication replicator 127.0.0.1/32 ${auth}`, `${host} all all 127.0.0.1/32 ${auth}`],
    },
  };
}

/** HAProxy's config on 127.0.0.1:`port`: connections go to the node whose Patroni REST API calls it the primary. */
export function patroniHaproxyConfig(
  port: number,
  idleTimeoutSeconds: number,
  nodes: readonly Pick<PatroniNode, "name" | "pgPort" | "restPort">[],
): string {
  const { inter, fall, rise } = HAPROXY_CHECK;
  return tcpProxyConfig({
    name: "primary",
    port,
    idleTimeoutSeconds,
    check: ["option httpchk OPTIONS /primary", "http-check expect status 200"],
    // a node that stops being the primary has its sessions cut, so no client keeps writing to a replica.
    defaultServer: `inter ${inter} fall ${fall} rise ${rise} on-marked-down shutdown-sessions`,
    servers: nodes.map((n) => `${n.name} 127.0.0.1:${n.pgPort} maxconn 200 check port ${n.restPort}`),
  });
}

/** The member holding the leader key and running, if any. */
export function runningLeader(members: readonly Member[]): Member | undefined {
  return members.find((m) => m.role === "leader" && m.state === "running");
}

/**
 * The parent's pid in a `/proc/<pid>/stat` line (`pid (comm) state ppid …`), read after the last `) `: a
 * process name may hold spaces and parentheses.
 */
export function statParentPid(stat: string): string {
  return stat.replace(/^.*\) /, "").split(" ")[1];
}

export class PatroniCluster {
  public readonly superuser = "postgres";
  public readonly superuserPassword = randomBytes(18).toString("base64url");
  private readonly replicationPassword = randomBytes(18).toString("base64url");
  public readonly host = "127.0.0.1";
  /** HAProxy's port: the one address clients use. */
  public port = 0;
  /** The major version of the nodes' PostgreSQL. */
  public version = 0;
  public readonly replication: ReplicationMode;
  public readonly scope = `keybuzz-${randomBytes(3).toString("hex")}`;
  private readonly dir: string;
  private readonly nodes: PatroniNode[] = [];
  private etcd?: Started;
  private haproxy?: Started;
  private etcdPort = 0;
  /** WAL senders stopped by {@link holdReplication}. */
  private readonly held: number[] = [];
  private readonly owner?: { uid: number; gid: number };

  private constructor(private readonly options: PatroniOptions) {
    this.replication = options.replication ?? "async";
    this.dir = mkdtempSync(join(options.parentDir ?? tmpdir(), "keybuzz-ha-"));
    if (process.getuid?.() === 0) {
      const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"]).toString().trim());
      this.owner = { uid: id("-u"), gid: id("-g") };
    }
    this.own(this.dir, 0o700);
  }

  /** Starts etcd, the Patroni nodes (the first bootstraps, the others clone it) and HAProxy; waits until every replica streams. */
  static async start(options: PatroniOptions): Promise<PatroniCluster> {
    const cluster = new PatroniCluster(options);
    try {
      await cluster.startAll();
    } catch (err) {
      const logs = cluster.logTail();
      await cluster.stop();
      throw new Error(`${String((err as Error).message)}\n${logs}`);
    }
    return cluster;
  }

  private log(message: string): void {
    this.options.log?.(message);
  }

  private own(path: string, mode?: number): void {
    if (this.owner) chownSync(path, this.owner.uid, this.owner.gid);
    if (mode !== undefined) chmodSync(path, mode);
  }

  /**
   * `command args` as the `postgres` user when we are root, run in the cluster's folder: the caller's
   * folder (a checkout in a 0700 temp folder, say) may be closed to that user, and Patroni and initdb
   * fail when they cannot read where they run.
   */
  private asOwner(command: string, args: readonly string[], options: SpawnOptions = {}): [string, string[], SpawnOptions] {
    const spawn = { cwd: this.dir, ...options };
    return this.owner ? ["runuser", ["-u", "postgres", "--", command, ...args], spawn] : [command, [...args], spawn];
  }

  private async startAll(): Promise<void> {
    const count = this.options.nodes ?? 2;
    const t0 = Date.now();
    this.etcdPort = await freePort();
    const peerPort = await freePort();
    const etcdDir = join(this.dir, "etcd");
    mkdirSync(etcdDir);
    this.own(etcdDir, 0o700);
    this.etcd = startProcess(
      ...this.asOwner(this.options.programs.etcd, [
        "--name",
        "etcd1",
        "--data-dir",
        join(etcdDir, "data"),
        "--listen-client-urls",
        `http://127.0.0.1:${this.etcdPort}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${this.etcdPort}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${peerPort}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${peerPort}`,
        "--initial-cluster",
        `etcd1=http://127.0.0.1:${peerPort}`,
        "--initial-cluster-state",
        "new",
        "--log-level",
        "warn",
      ]),
    );
    await waitFor(`etcd on 127.0.0.1:${this.etcdPort}`, async () => (await fetch(`http://127.0.0.1:${this.etcdPort}/health`)).ok, 30_000);

    for (let i = 1; i <= count; i++) this.nodes.push(await this.prepareNode(`node${i}`));
    // the first node bootstraps (initdb) and takes the leader key; the others then clone it.
    this.startNode(this.nodes[0]);
    await waitFor("node1 to bootstrap and become the leader", async () => (await this.leader()) === "node1", 90_000);
    for (const node of this.nodes.slice(1)) this.startNode(node);

    this.port = await freePort();
    const cfg = join(this.dir, "haproxy.cfg");
    writeFileSync(cfg, this.haproxyConfig());
    this.haproxy = startProcess(this.options.programs.haproxy, ["-db", "-f", cfg], { cwd: this.dir });
    await this.waitHealthy(120_000);
    const [row] = await this.query<{ num: string }>("SELECT current_setting('server_version_num') AS num");
    this.version = Math.floor(Number(row.num) / 10_000);
    this.log(
      `Patroni cluster ${this.scope}: ${count} nodes (${this.replication} replication), leader ${await this.leader()}, ` +
        `HAProxy on 127.0.0.1:${this.port}, ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }

  private async prepareNode(name: string): Promise<PatroniNode> {
    const dir = join(this.dir, name);
    mkdirSync(dir);
    this.own(dir, 0o700);
    const node: PatroniNode = { name, pgPort: await freePort(), restPort: await freePort(), dir, configFile: join(dir, "patroni.yml") };
    if (this.options.ssl) {
      copyFileSync(this.options.ssl.certFile, join(dir, "server.crt"));
      copyFileSync(this.options.ssl.keyFile, join(dir, "server.key"));
      this.own(join(dir, "server.crt"), 0o644);
      this.own(join(dir, "server.key"), 0o600);
    }
    // JSON is YAML: Patroni reads it as it is.
    writeFileSync(node.configFile, `${JSON.stringify(this.patroniConfig(node), null, 2)}\n`, { mode: 0o600 });
    this.own(node.configFile);
    return node;
  }

  private patroniConfig(node: PatroniNode): unknown {
    return patroniConfig({
      scope: this.scope,
      node,
      etcdPort: this.etcdPort,
      replication: this.replication,
      ssl: Boolean(this.options.ssl),
      binDir: this.options.binDir,
      superuser: { username: this.superuser, password: this.superuserPassword },
      replicationPassword: this.replicationPassword,
      logLevel: process.env.KEYBUZZ_PATRONI_LOG ?? "WARNING",
    });
  }

  private haproxyConfig(): string {
    return patroniHaproxyConfig(this.port, this.options.idleTimeoutSeconds ?? HAPROXY_IDLE_TIMEOUT_S, this.nodes);
  }

  private startNode(node: PatroniNode): void {
    node.process = startProcess(
      ...this.asOwner(this.options.programs.patroni, [node.configFile], { env: { ...process.env, PATH: `/usr/bin:/bin:${process.env.PATH ?? ""}` } }),
    );
  }

  /** Patroni's view of the cluster (`GET /cluster` of the first node that answers). */
  async members(): Promise<Member[]> {
    let lastError: unknown;
    for (const node of this.nodes) {
      try {
        const res = await fetch(`http://127.0.0.1:${node.restPort}/cluster`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) return ((await res.json()) as { members: Member[] }).members;
      } catch (err) {
        lastError = err;
      }
    }
    throw new Error(`no Patroni REST API answered: ${String(lastError)}`);
  }

  /** The name of the member holding the leader key and running, if any. */
  async leader(): Promise<string | undefined> {
    return runningLeader(await this.members().catch(() => []))?.name;
  }

  /** The node names. */
  get nodeNames(): string[] {
    return this.nodes.map((n) => n.name);
  }

  /** Every node's jsonlog file (the logging collector's, in `<data>/log/`), for the stack's log program. */
  get logFiles(): string[] {
    return this.nodes.map((n) => jsonLogFile(join(n.dir, "data", "log")));
  }

  /**
   * Waits until there is a running leader, every other node streams from it, and HAProxy sends a
   * connection to a primary (not in recovery). Returns the leader's name.
   */
  async waitHealthy(timeoutMs = 60_000): Promise<string> {
    let leader = "";
    await waitFor(
      "the Patroni cluster to have a leader, streaming replicas and HAProxy routing to the primary",
      async () => {
        const members = await this.members();
        const l = runningLeader(members);
        if (!l || members.length !== this.nodes.length) return false;
        if (!members.every((m) => m.state === "running")) return false;
        // Patroni 3.0 reports a replica as "running" whether or not it streams: ask the primary.
        const [row] = await this.query<{ recovery: boolean; streaming: number }>(
          "SELECT pg_is_in_recovery() AS recovery, (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')::int AS streaming",
        );
        leader = l.name;
        return row.recovery === false && row.streaming === this.nodes.length - 1;
      },
      timeoutMs,
    );
    return leader;
  }

  /** `patronictl switchover` from the current leader to `candidate` (another node when not given). */
  async switchover(candidate?: string): Promise<{ from: string; to: string; output: string }> {
    const from = await this.leader();
    if (!from) throw new Error("switchover: the cluster has no running leader");
    const to = candidate ?? this.nodes.find((n) => n.name !== from)!.name;
    const res = await runOk(
      ...this.asOwner(this.options.programs.patronictl, [
        "-c",
        this.node(from).configFile,
        "switchover",
        this.scope,
        "--leader",
        from,
        "--candidate",
        to,
        "--force",
      ]),
    );
    return { from, to, output: `${res.stdout}${res.stderr}`.trim() };
  }

  /** SIGKILL to the leader's postmaster (read from its postmaster.pid); returns the leader's name and that pid. */
  async crashLeader(): Promise<{ name: string; pid: number }> {
    const name = await this.leader();
    if (!name) throw new Error("crashLeader: the cluster has no running leader");
    const pid = this.postmasterPid(name);
    if (!pid) throw new Error(`crashLeader: ${name} has no postmaster.pid`);
    process.kill(pid, "SIGKILL");
    return { name, pid };
  }

  /**
   * Stops (SIGSTOP) the leader's WAL senders: from then on, what the leader commits reaches no replica
   * (asynchronous replication acknowledges it anyway; synchronous replication makes the commit wait).
   * {@link crashNode} ends them with the rest.
   */
  async holdReplication(): Promise<{ leader: string; pids: number[] }> {
    const leader = await this.leader();
    if (!leader) throw new Error("holdReplication: the cluster has no running leader");
    const rows = await this.query<{ pid: number }>("SELECT pid FROM pg_stat_replication", [], undefined, leader);
    if (rows.length === 0) throw new Error(`holdReplication: ${leader} has no WAL sender`);
    for (const { pid } of rows) {
      process.kill(pid, "SIGSTOP");
      this.held.push(pid);
    }
    return { leader, pids: rows.map((r) => r.pid) };
  }

  /** SIGKILL to every PostgreSQL process of `name` (postmaster first, then its children, stopped ones too), as a crash of its machine would. */
  crashNode(name: string): number[] {
    const pids = this.serverPids(name);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // exited already.
      }
    }
    return pids;
  }

  /** The postmaster's pid of a node (0 when it is not running). */
  postmasterPid(name: string): number {
    return postmasterPid(join(this.node(name).dir, "data"));
  }

  /** The pids of a node's PostgreSQL processes: its postmaster and every child. */
  serverPids(name: string): number[] {
    const postmaster = this.postmasterPid(name);
    if (!postmaster) return [];
    const children = readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return statParentPid(readFileSync(`/proc/${p}/stat`, "utf8")) === String(postmaster);
        } catch {
          return false;
        }
      })
      .map(Number);
    return [postmaster, ...children];
  }

  private node(name: string): PatroniNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node named ${name} (nodes: ${this.nodeNames.join(", ")})`);
    return node;
  }

  /** Connection settings through HAProxy (or straight to one node with `node`). */
  config(database = "postgres", user = this.superuser, password = this.superuserPassword, node?: string): ClientConfig {
    const port = node ? this.node(node).pgPort : this.port;
    const tls = this.options.ssl;
    const ssl = tls ? { ssl: tls.caFile ? { ca: readFileSync(tls.caFile, "utf8") } : { rejectUnauthorized: false } } : {};
    return { host: this.host, port, database, user, password, connectionTimeoutMillis: 10_000, ...ssl };
  }

  /** Runs one query as the superuser through HAProxy (or on `node`) and returns its rows. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params: unknown[] = [],
    database?: string,
    node?: string,
  ): Promise<T[]> {
    return queryWith<T>(this.config(database, undefined, undefined, node), sql, params);
  }

  /** Whether `user` can log in through HAProxy to `database`; the error message when it cannot. */
  tryLogin(database: string, user: string, password: string): Promise<{ ok: true } | { ok: false; message: string }> {
    return tryLoginWith(this.config(database, user, password));
  }

  /** The last lines of every process's output (for a failure message). */
  logTail(lines = Number(process.env.KEYBUZZ_PATRONI_TAIL ?? 15)): string {
    const tail = (label: string, p?: Started) => (p ? `--- ${label}\n${p.output().trim().split("\n").slice(-lines).join("\n")}` : "");
    return [tail("etcd", this.etcd), ...this.nodes.map((n) => tail(`patroni ${n.name}`, n.process)), tail("haproxy", this.haproxy)]
      .filter(Boolean)
      .join("\n");
  }

  /** Stops HAProxy, every Patroni node (which stops its PostgreSQL) and etcd, then removes the folder; safe twice. */
  async stop(): Promise<void> {
    for (const pid of this.held.splice(0)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already.
      }
    }
    this.haproxy?.signal("SIGTERM");
    await Promise.all(
      this.nodes.map(async (n) => {
        if (!n.process) return;
        n.process.signal("SIGTERM");
        const done = await Promise.race([n.process.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 30_000))]);
        if (!done) n.process.signal("SIGKILL");
      }),
    );
    // a PostgreSQL that outlived its Patroni (killed above, or never stopped): stop it without waiting.
    for (const n of this.nodes) {
      const data = join(n.dir, "data");
      if (existsSync(join(data, "postmaster.pid"))) {
        await run(...this.asOwner(join(this.options.binDir, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]));
      }
    }
    this.etcd?.signal("SIGTERM");
    await Promise.all([this.etcd?.exited, this.haproxy?.exited]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
