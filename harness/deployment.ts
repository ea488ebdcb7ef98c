/**
 * A local deployment on this machine: a throwaway PostgreSQL cluster and a Vault-API server (OpenBao or
 * HashiCorp Vault) on free 127.0.0.1 ports, the `local` stack synthesized for them by the project's
 * main.ts, and deployed by the real providers — with `cdktf deploy` as an engineer would, or with the
 * Terraform engine in the stack's folder (the same JSON, without cdktf's start-up). Used by
 * `npm run sandbox`, the benchmark and the real-server tests, with the few Vault and PostgreSQL calls
 * they share.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { PostgresCluster, type PostgresOptions } from "./postgres";
import { VaultServer, type VaultEndpoint, type VaultOptions, type VaultResponse } from "./vault";
import { cdktf, deployEnv, localPaths, readConfig, synthLocal, terraform, writeLocalConfig, type DeployCredentials, type TfJson } from "./stack";
import type { PostgresServer } from "./toolchain";
import type { RunResult } from "./processes";

/** Credentials as Vault hands them out. */
export interface Creds {
  readonly username: string;
  readonly password: string;
  readonly leaseId: string;
}

/**
 * What a deployment needs of a PostgreSQL server: where it listens, its superuser, queries as the
 * superuser, and a way to stop it. {@link PostgresCluster} (one throwaway server) is one; the Patroni
 * cluster behind HAProxy (harness/patroni.ts) another.
 */
export interface PostgresEndpoint {
  readonly host: string;
  readonly port: number;
  readonly superuser: string;
  readonly superuserPassword: string;
  /** The server's major version. */
  readonly version: number;
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  tryLogin(database: string, user: string, password: string): Promise<{ ok: true } | { ok: false; message: string }>;
  stop(): Promise<void>;
}

export interface EnvironmentOptions<P extends PostgresEndpoint = PostgresCluster, V extends VaultEndpoint = VaultServer> {
  /** Which PostgreSQL server to run (a throwaway {@link PostgresCluster}); not with `startPostgres`. */
  readonly server?: PostgresServer;
  /** Starts another kind of PostgreSQL endpoint instead, its files under `parentDir` (e.g. a Patroni cluster). */
  readonly startPostgres?: (parentDir: string) => Promise<P>;
  /** The Vault-API server binary: `bao` or `vault` (one {@link VaultServer}); not with `startVault`. */
  readonly vaultBinary?: string;
  /** Starts another kind of Vault endpoint instead, its files under `parentDir` (e.g. a Raft cluster). */
  readonly startVault?: (parentDir: string) => Promise<V>;
  /** The Terraform engine, and the providers' mirror (absent: the registry). */
  readonly tools: { readonly engine: string; readonly cliConfig?: string };
  readonly postgres?: PostgresOptions;
  readonly vault?: VaultOptions;
  /** Changes to config/local.json before synthesis (e.g. another backend or sslmode). */
  readonly patchConfig?: (config: TfJson) => void;
  /** Prefix of progress lines on stderr, e.g. `[e2e churn]`. */
  readonly log: string;
}

/** The PostgreSQL catalog as a deploy and a destroy change it: roles, memberships, databases, default ACLs. */
export interface Catalog {
  readonly roles: string[];
  readonly memberships: string[];
  readonly databases: string[];
  readonly defaultAcls: string[];
}

export class LocalDeployment<P extends PostgresEndpoint = PostgresCluster, V extends VaultEndpoint = VaultServer> {
  readonly adminPassword = randomBytes(18).toString("base64url");
  /** Temp folder of this deployment: config, synth output, Terraform's folder and state, HOME. */
  readonly dir: string;
  /** Where Terraform runs (`<dir>/cdktf.out/stacks/keybuzz-local`), as with `cdktf deploy`. */
  readonly stackDir: string;
  /** The local backend's state file. */
  readonly statePath: string;
  pg!: P;
  vault!: V;
  /** The synthesized cdk.tf.json of keybuzz-local (after {@link synth}). */
  tf!: TfJson;
  /** The application database. */
  readonly databaseName: string;

  private constructor(private readonly options: EnvironmentOptions<P, V>) {
    this.dir = mkdtempSync(join(tmpdir(), "keybuzz-env-"));
    // PostgreSQL runs as the postgres user when we are root: it must be able to pass through.
    chmodSync(this.dir, 0o711);
    ({ stackDir: this.stackDir, statePath: this.statePath } = localPaths(this.dir));
    const config = readConfig("local");
    options.patchConfig?.(config);
    this.databaseName = config.postgres.database ?? "keybuzz";
  }

  /** Starts both servers; {@link stop} undoes it. Call {@link deploy} (or {@link synth}) next. */
  static async start<P extends PostgresEndpoint = PostgresCluster, V extends VaultEndpoint = VaultServer>(
    options: EnvironmentOptions<P, V>,
  ): Promise<LocalDeployment<P, V>> {
    const env = new LocalDeployment<P, V>(options);
    const { server, startPostgres, vaultBinary, startVault } = options;
    try {
      if (!server === !startPostgres) throw new Error("give either server or startPostgres");
      if (!vaultBinary === !startVault) throw new Error("give either vaultBinary or startVault");
      env.log(`starting ${server ? `PostgreSQL ${server.major}` : "PostgreSQL"} and ${vaultBinary ? basename(vaultBinary) : "Vault"} on 127.0.0.1`);
      const [pg, vault] = await Promise.allSettled([
        startPostgres
          ? startPostgres(env.dir)
          : (PostgresCluster.start(server!.binDir, {
              parentDir: env.dir,
              ...options.postgres,
              root: server!.root,
            }) as Promise<PostgresEndpoint> as Promise<P>),
        startVault
          ? startVault(env.dir)
          : (VaultServer.start(vaultBinary!, { parentDir: env.dir, ...options.vault }) as Promise<VaultEndpoint> as Promise<V>),
      ]);
      if (pg.status === "fulfilled") env.pg = pg.value;
      if (vault.status === "fulfilled") env.vault = vault.value;
      if (pg.status === "rejected") throw pg.reason;
      if (vault.status === "rejected") throw vault.reason;
      env.log(`PostgreSQL ${env.pg.version} on 127.0.0.1:${env.pg.port}, ${env.vault.label} on ${env.vault.address}`);
    } catch (err) {
      await env.stop();
      throw err;
    }
    return env;
  }

  log(message: string): void {
    process.stderr.write(`${this.options.log} ${message}\n`);
  }

  /** Where the Terraform engine, credentials and HOME for a deploy come from. */
  get credentials(): DeployCredentials {
    return {
      engine: this.options.tools.engine,
      cliConfig: this.options.tools.cliConfig,
      vaultToken: this.vault.rootToken,
      vaultCaCert: this.vault.caFile,
      pgPassword: this.pg.superuserPassword,
      adminPassword: this.adminPassword,
      home: this.dir,
    };
  }

  /**
   * Writes the config for these servers (with `patchConfig`, then `change`, if given: a later edit of the
   * environment file) and synthesizes keybuzz-local; returns its JSON.
   */
  async synth(change?: (config: TfJson) => void): Promise<TfJson> {
    this.writeConfig(change);
    this.tf = await synthLocal(this.dir);
    return this.tf;
  }

  private writeConfig(change?: (config: TfJson) => void): void {
    writeLocalConfig(this.dir, this.vault.address, this.pg.port, (config) => {
      this.options.patchConfig?.(config);
      change?.(config);
    });
  }

  /**
   * Deploys keybuzz-local the quick way: synthesizes with main.ts, then `init` and `apply` in the stack's
   * folder (the same JSON and providers `cdktf deploy` uses, without cdktf's own start-up; for cdktf
   * itself, {@link cdktf}). Throws with the output when it fails.
   */
  async deploy(): Promise<void> {
    this.log("synthesizing keybuzz-local; init + apply with both providers");
    await this.synth();
    await this.terraformOk(["init", "-input=false"]);
    await this.terraformOk(["apply", "-auto-approve", "-input=false"]);
  }

  /** Runs the Terraform engine in the stack's folder (`dir` to run it elsewhere, `env` added); never throws. */
  terraform(args: string[], opts: { dir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult & { output: string }> {
    return terraform(this.options.tools.engine, opts.dir ?? this.stackDir, args, this.engineEnv(opts.env));
  }

  /** Runs the Terraform engine and throws with its output when it fails. */
  async terraformOk(args: string[], opts: { dir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult & { output: string }> {
    const res = await this.terraform(args, opts);
    if (res.code !== 0) throw new Error(`${this.options.tools.engine} ${args.join(" ")} exited ${res.code}:\n${res.output}`);
    return res;
  }

  /** The environment the engine runs with (`extra` added, e.g. PG_CONN_STR). */
  engineEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { ...deployEnv(this.credentials), ...extra };
  }

  /**
   * `cdktf deploy|diff|destroy keybuzz-local` against these servers (with other `credentials`, e.g. a wrong
   * password, when given); never throws. cdktf synthesizes again, from the deployment's config
   * (`patchConfig`, then `change` if given: a change given to {@link synth} is not kept).
   */
  cdktf(
    command: "deploy" | "diff" | "destroy",
    opts: { args?: readonly string[]; echo?: string; credentials?: DeployCredentials; change?: (config: TfJson) => void } = {},
  ): Promise<RunResult & { output: string }> {
    this.writeConfig(opts.change);
    return cdktf(command, this.dir, opts.credentials ?? this.credentials, opts);
  }

  /** A Vault API call with the root token (or `token`). */
  v(method: string, path: string, body?: unknown, token?: string): Promise<VaultResponse> {
    return this.vault.request(method, path, body, token);
  }

  /** Reads `<mount>/creds/<role>` (root token unless given); throws with Vault's answer unless it succeeds; `ttl` shortens the lease. */
  async issue(role: string, opts: { ttl?: string; token?: string } = {}): Promise<Creds> {
    const res = await this.v("GET", `database/creds/${role}`, undefined, opts.token);
    if (res.status !== 200) throw new Error(`database/creds/${role}: ${res.status} ${JSON.stringify(res.body)}`);
    const creds = { username: res.body.data.username, password: res.body.data.password, leaseId: res.body.lease_id };
    if (opts.ttl) {
      // shorten the lease: renewal with a small increment is how an application (or an operator) does it.
      const renew = await this.v("PUT", "sys/leases/renew", { lease_id: creds.leaseId, increment: opts.ttl });
      if (renew.status !== 200) throw new Error(`renew ${creds.leaseId}: ${renew.status} ${JSON.stringify(renew.body)}`);
    }
    return creds;
  }

  /** Revokes one lease; throws with Vault's answer unless it succeeds. */
  async revoke(leaseId: string): Promise<void> {
    const res = await this.v("PUT", "sys/leases/revoke", { lease_id: leaseId });
    if (res.status !== 204) throw new Error(`revoke ${leaseId}: ${res.status} ${JSON.stringify(res.body)}`);
  }

  /** Lease IDs the server still holds under `database/creds/<role>/` (empty when none). */
  async outstandingLeases(role: string): Promise<string[]> {
    const res = await this.v("LIST", `sys/leases/lookup/database/creds/${role}/`);
    if (res.status === 404) return [];
    if (res.status !== 200) throw new Error(`list leases of ${role}: ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body.data.keys as string[]) ?? [];
  }

  /** How many leases the server has given up revoking (irrevocable). */
  async irrevocableLeases(): Promise<number> {
    const res = await this.v("GET", "sys/leases/count?type=irrevocable");
    if (res.status !== 200) throw new Error(`count irrevocable leases: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.data.lease_count as number;
  }

  /** Names of the PostgreSQL roles Vault created (`v-…`) that still exist. */
  async dynamicRoles(): Promise<string[]> {
    return (await this.pg.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' ORDER BY 1")).map((r) => r.rolname);
  }

  /**
   * Objects in the application database owned by no existing role or by a `v-` role: both mean a
   * revocation left something behind. Empty when every object belongs to a base role or a system role.
   */
  async strayObjects(): Promise<{ kind: string; name: string; owner: string }[]> {
    return this.pg.query(
      `SELECT x.kind, x.name, coalesce(r.rolname, '<dropped>') AS owner FROM (
         SELECT 'table' AS kind, c.oid::regclass::text AS name, c.relowner AS o FROM pg_class c
         UNION ALL SELECT 'schema', n.nspname::text, n.nspowner FROM pg_namespace n
         UNION ALL SELECT 'type', t.typname::text, t.typowner FROM pg_type t
         UNION ALL SELECT 'function', p.proname::text, p.proowner FROM pg_proc p
       ) x LEFT JOIN pg_roles r ON r.oid = x.o
       WHERE r.oid IS NULL OR r.rolname LIKE 'v-%'`,
      [],
      this.databaseName,
    );
  }

  /**
   * The cluster-wide catalog a deploy and a destroy change, each row as text so that two readings
   * compare with `toEqual`: roles with their attributes, memberships, databases with their ACLs, and the
   * default ACLs of the `postgres` database.
   */
  async catalog(): Promise<Catalog> {
    const rows = async (sql: string, database?: string) => (await this.pg.query<{ r: string }>(sql, [], database)).map((x) => x.r);
    return {
      roles: await rows(
        `SELECT format('%s super=%s createrole=%s createdb=%s login=%s inherit=%s connlimit=%s valid=%s', rolname, rolsuper,
           rolcreaterole, rolcreatedb, rolcanlogin, rolinherit, rolconnlimit, rolvaliduntil) AS r
         FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' ORDER BY 1`,
      ),
      memberships: await rows(
        `SELECT format('%s in %s admin=%s', m.rolname, r.rolname, a.admin_option) AS r FROM pg_auth_members a
         JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
         WHERE r.rolname NOT LIKE 'pg\\_%' ORDER BY 1`,
      ),
      databases: await rows("SELECT format('%s acl=%s', datname, datacl) AS r FROM pg_database ORDER BY 1"),
      defaultAcls: await rows(
        "SELECT format('%s %s %s %s', defaclrole::regrole, defaclnamespace, defaclobjtype, defaclacl) AS r FROM pg_default_acl ORDER BY 1",
      ),
    };
  }

  /** Stops both servers and removes the deployment's folder; safe to call after a failed start, and twice. */
  async stop(): Promise<void> {
    const results = await Promise.allSettled([this.vault?.stop(), this.pg?.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
    for (const r of results) if (r.status === "rejected") throw r.reason;
  }
}
