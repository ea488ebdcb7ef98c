/**
 * The curve of section 7 on one deployed stack, whatever its storage: leases filled level by level, and at each level
 * issuance at concurrency 1 and 16 for the project's role and the runbook's bare role, renewal and revocation of what
 * was issued, PostgreSQL's statements (`pg_stat_statements`) and, where asked, the server's CPU profile. Used by
 * bench/lease-scale.ts (dev servers) and bench/raft-restart.ts (three-node Raft clusters).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ISSUED_USER_PREFIX } from "../constructs/vocabulary";
import type { LocalDeployment } from "../harness/deployment";
import type { PostgresCluster } from "../harness/postgres";
import type { VaultEndpoint } from "../harness/vault";
import { pool, run } from "../harness/processes";
import type { LocalStackNames } from "./local-stack";
import { CONCURRENCY, progress } from "./measure";
import { RUNBOOK_ROLE } from "./runbook-role";
import { quantile } from "./stats";

/** A deployment of section 7: a dev server or a Raft cluster. */
export type Deployment = LocalDeployment<PostgresCluster, VaultEndpoint>;

/** p50 and p99 of a sample of latencies, in ms, and its size. */
export interface Latency {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  /** Calls that failed (not counted in the quantiles). */
  readonly errors: number;
}

/** A statement from `pg_stat_statements`: what ran while one role issued at concurrency 16. */
export interface StatementTime {
  /** The statement's text, on one line, cut at 100 characters. */
  readonly query: string;
  readonly calls: number;
  readonly meanMs: number;
  readonly totalMs: number;
}

/** What one statement set measured at one level. */
export interface RoleFigures {
  readonly issueC1: Latency;
  readonly issueC16: Latency;
  readonly renew: Latency;
  readonly revoke: Latency;
  /** The top statements by total time during the concurrency-16 issuance. */
  readonly statements: readonly StatementTime[];
}

/** One level of active leases on one server. */
export interface LevelFigures {
  /** Active leases (the fill) while measuring. */
  readonly active: number;
  /** Issued users in `pg_roles` while measuring. */
  readonly users: number;
  /** The server's resident memory, MiB. */
  readonly serverRssMiB: number;
  /** Seconds the fill up to this level took from the previous one. */
  readonly fillS: number;
  readonly project: RoleFigures;
  readonly bare: RoleFigures;
}

/** The fill's lease lifetime: longer than any run, so that no fill lease expires while the curve is measured. */
export const FILL_TTL = "4h";
/** How long the CPU profile at the top level lasts, s. */
export const PROFILE_SECONDS = 15;

function latency(ms: readonly number[], errors: number): Latency {
  return ms.length ? { n: ms.length, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), errors } : { n: 0, p50: Number.NaN, p99: Number.NaN, errors };
}

/** Calls `call` `count` times, `concurrency` at once; its latencies, and the results of those that succeeded. */
async function timedCalls<T>(count: number, concurrency: number, call: (i: number) => Promise<T | undefined>) {
  const ms: number[] = [];
  const ok: T[] = [];
  let errors = 0;
  await pool(count, concurrency, async (i) => {
    const t0 = performance.now();
    const r = await call(i).catch(() => undefined);
    if (r === undefined) errors++;
    else {
      ms.push(performance.now() - t0);
      ok.push(r);
    }
  });
  return { latency: latency(ms, errors), ok };
}

/** A process's resident set, MiB (0 when it cannot be read). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, "utf8") : "");
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

/** The server's resident memory (a Raft cluster's largest node), MiB; 0 when it cannot be read. */
function serverRssMiB(env: Deployment): number {
  const vault = env.vault as { pid?: number; nodes?: readonly { process?: { child: { pid?: number } } }[] };
  const pids = vault.nodes ? vault.nodes.map((n) => n.process?.child.pid ?? 0) : [vault.pid ?? 0];
  return Math.max(0, ...pids.map(rssMiB));
}

/** Issued users (`v-…`) in `pg_roles`. */
export async function issuedUsers(env: Deployment): Promise<number> {
  return Number((await env.pg.query<{ n: string }>("SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE $1", [`${ISSUED_USER_PREFIX}%`]))[0].n);
}

/** One credential from `role`: its lease ID, or undefined when the server refused. */
export async function issueLease(env: Deployment, mountPath: string, role: string): Promise<string | undefined> {
  const res = await env.v("GET", `${mountPath}/creds/${role}`);
  return res.status === 200 ? (res.body.lease_id as string) : undefined;
}

/** Issuance at concurrency 1 and 16, renewal and revocation of what was issued, for one role. */
async function measureRole(env: Deployment, mountPath: string, role: string, samples: number): Promise<RoleFigures> {
  const issue = () => issueLease(env, mountPath, role);
  const c1 = await timedCalls(Math.max(1, Math.round(samples / 4)), 1, issue);
  await env.pg.query("SELECT pg_stat_statements_reset()");
  const c16 = await timedCalls(samples, CONCURRENCY, issue);
  const statements = await topStatements(env);
  const leases = [...c1.ok, ...c16.ok];
  const renew = await timedCalls(c16.ok.length, CONCURRENCY, async (i) => {
    const res = await env.v("PUT", "sys/leases/renew", { lease_id: c16.ok[i], increment: FILL_TTL });
    return res.status === 200 ? true : undefined;
  });
  const revoke = await timedCalls(leases.length, CONCURRENCY, async (i) => {
    const res = await env.v("PUT", "sys/leases/revoke", { lease_id: leases[i] });
    return res.status === 204 ? true : undefined;
  });
  return {
    issueC1: c1.latency,
    issueC16: c16.latency,
    renew: renew.latency,
    revoke: revoke.latency,
    statements,
  };
}

/**
 * The statements that took the most time since the last `pg_stat_statements_reset()`, each issued user's name and
 * every literal (the runbook's `PASSWORD '…'` among them) replaced by `…` before it leaves PostgreSQL, so that
 * the statements of one kind add up to one row and no password reaches the report.
 */
async function topStatements(env: Deployment): Promise<StatementTime[]> {
  const rows = await env.pg.query<{ query: string; calls: string; total: number }>(
    `SELECT q AS query, sum(calls) AS calls, sum(total_exec_time) AS total FROM (
       SELECT regexp_replace(regexp_replace(query, '\\s+', ' ', 'g'), '"v-[^"]*"|''[^'']*''', '…', 'g') AS q, calls, total_exec_time
         FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%') s
     GROUP BY q ORDER BY total DESC LIMIT 6`,
  );
  return rows.map((r) => ({
    query: r.query.length > 100 ? `${r.query.slice(0, 99)}…` : r.query,
    calls: Number(r.calls),
    meanMs: r.total / Number(r.calls),
    totalMs: r.total,
  }));
}

/**
 * A CPU profile of the server while `role` issues at concurrency 16 for `seconds` (then what it issued is revoked),
 * summarized by `go tool pprof -top -cum` (its first lines): where issuance spends the server's time.
 */
async function profileTop(env: Deployment, mountPath: string, role: string, scratch: string, seconds: number): Promise<string[]> {
  const profiling = fetch(`${env.vault.address}/v1/sys/pprof/profile?seconds=${seconds}`, { headers: { "X-Vault-Token": env.vault.rootToken } });
  const until = Date.now() + seconds * 1000;
  const issued: string[] = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        const id = await issueLease(env, mountPath, role).catch(() => undefined);
        if (id) issued.push(id);
      }
    }),
  );
  const res = await profiling;
  await pool(issued.length, CONCURRENCY, (i) => env.v("PUT", "sys/leases/revoke", { lease_id: issued[i] }));
  if (res.status !== 200) return [`no profile: sys/pprof/profile answered ${res.status}`];
  const file = join(scratch, `cpu-${env.vault.cli}.pb.gz`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const top = await run("go", ["tool", "pprof", "-top", "-cum", "-nodecount=30", file]);
  if (top.code !== 0) return [`no profile: go tool pprof exited ${top.code}: ${top.stderr.trim().split("\n").pop()}`];
  return top.stdout.trim().split("\n");
}

/** Issues leases across `roles` at concurrency 16 until `count` more are active; throws when more than 1 % fail. */
export async function fill(env: Deployment, mountPath: string, roles: readonly string[], count: number, what: string): Promise<string[]> {
  const leases: string[] = [];
  let failed = 0;
  await pool(count, CONCURRENCY, async (i) => {
    const id = await issueLease(env, mountPath, roles[i % roles.length]).catch(() => undefined);
    if (id) leases.push(id);
    else if (++failed > count / 100) throw new Error(`${what}: ${failed} issuances failed`);
    if ((i + 1) % 5000 === 0) progress(`${what}: ${i + 1} of ${count} issued`);
  });
  return leases;
}

/** PostgreSQL settings of every section-7 deployment: `pg_stat_statements`, nested statements (the credential functions' bodies) included. */
export const STATEMENT_STATS = { shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track": "all" } as const;

/** Makes `pg_stat_statements` readable on a deployment started with {@link STATEMENT_STATS}. */
export async function enableStatementStats(env: Deployment): Promise<void> {
  await env.pg.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
}

/** The curve on one deployment: its figures per level, and the profile taken at the top level (empty when not asked). */
export interface Curve {
  readonly levels: readonly LevelFigures[];
  readonly profile: readonly string[];
}

/**
 * Fills `env` level by level (its stack deployed, {@link addRunbookRole} done) and measures each level; with
 * `profileIn` (a scratch folder), a CPU profile of the server at the top level.
 */
export async function measureCurve(
  env: Deployment,
  names: LocalStackNames,
  options: { readonly levels: readonly number[]; readonly samples: number; readonly profileIn?: string; readonly what: string },
): Promise<Curve> {
  const { samples, what } = options;
  const levels: LevelFigures[] = [];
  let profile: string[] = [];
  let active = 0;
  for (const [i, level] of options.levels.entries()) {
    const t0 = performance.now();
    if (level > active) active += (await fill(env, names.mountPath, names.vaultRoles, level - active, what)).length;
    const fillS = (performance.now() - t0) / 1000;
    progress(`${what}: ${active} active leases (filled in ${fillS.toFixed(0)} s); measuring`);
    const project = await measureRole(env, names.mountPath, names.projectRole.vaultRole, samples);
    if (options.profileIn && i === options.levels.length - 1) {
      profile = await profileTop(env, names.mountPath, names.projectRole.vaultRole, options.profileIn, PROFILE_SECONDS);
    }
    const bare = await measureRole(env, names.mountPath, RUNBOOK_ROLE, samples);
    const figures: LevelFigures = { active, users: await issuedUsers(env), serverRssMiB: serverRssMiB(env), fillS, project, bare };
    levels.push(figures);
    progress(
      `${what} at ${active}: issuance c16 p50 project ${project.issueC16.p50.toFixed(1)} ms, bare ${bare.issueC16.p50.toFixed(1)} ms; ` +
        `renew ${project.renew.p50.toFixed(1)} ms; revoke ${project.revoke.p50.toFixed(1)} ms; server ${figures.serverRssMiB} MiB`,
    );
  }
  return { levels, profile };
}
