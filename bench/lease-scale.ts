/**
 * Section 7, lease explosions: what tens of thousands of active leases do to issuance, renewal and revocation,
 * and how long the servers take to drain expired leases after a PostgreSQL outage. OpenBao and Vault dev
 * servers, each with its own throwaway PostgreSQL 15 (`pg_stat_statements` loaded), the `local` stack deployed
 * by OpenTofu, the runbook's bare role beside the project's (bench/runbook-role.ts).
 *
 * - **The curve**: at each level of active leases (default 0, 10,000 and 50,000; filled at concurrency 16
 *   across the four applications' roles, 4 h leases left active), issuance latency at concurrency 1 and 16 for
 *   the project's role and the bare role, then renewal and revocation of what was issued (at concurrency 16), the
 *   server's resident memory, and the PostgreSQL statements that took the time (`pg_stat_statements`, every
 *   statement of the project's issuance, nested ones included).
 * - **Where the time goes**: at the top level, a CPU profile of the server (`sys/pprof/profile`) while the project's
 *   role issues at concurrency 16, summarized by `go tool pprof -top`.
 * - **Drain after an outage**: a fresh deployment, 10,000 leases whose TTL is then cut to 180 s (a renewal with
 *   that increment, which PostgreSQL must answer), PostgreSQL stopped until every one has expired and 60 s more,
 *   then started: the time until the server has revoked every lease and dropped every user, and what is left
 *   irrevocable or orphaned.
 * - **A Raft cluster restarted** with 50,000 leases (bench/raft-restart.ts).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { ISSUED_USER_PREFIX } from "../constructs/vocabulary";
import { LocalDeployment } from "../harness/deployment";
import { pool, run } from "../harness/processes";
import type { Toolchain } from "../harness/toolchain";
import type { LocalStackNames } from "./local-stack";
import { CONCURRENCY, type NotRun, progress } from "./measure";
import { type RaftRestartFigures, raftRestartOn } from "./raft-restart";
import { addRunbookRole, RUNBOOK_ROLE } from "./runbook-role";
import { quantile } from "./stats";

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

/** The drain after an outage on one server. */
export interface DrainFigures {
  readonly leases: number;
  /** The TTL the leases were cut to, s. */
  readonly ttlS: number;
  /** How long cutting them took, s: under {@link ttlS}, every lease expired while PostgreSQL was down. */
  readonly cutS: number;
  /** How long PostgreSQL was down, s. */
  readonly outageS: number;
  /** From PostgreSQL's start until no lease and no issued user was left (or the wait gave up), s. */
  readonly drainS: number;
  /** Whether every lease and user was gone within the wait. */
  readonly drained: boolean;
  readonly leasesLeft: number;
  readonly usersLeft: number;
  readonly irrevocable: number;
}

/** One server's figures. */
export interface ScaleServer {
  readonly label: string;
  readonly levels: readonly LevelFigures[];
  /** `go tool pprof -top` of the server's CPU profile at the top level, its first lines; empty when none was taken. */
  readonly profile: readonly string[];
  readonly drain?: DrainFigures;
}

/** What section 7 measured. */
export interface LeaseScaleResult {
  readonly measuredAt: string;
  readonly postgresMajor: number;
  readonly samplesC1: number;
  readonly samplesC16: number;
  readonly profileSeconds: number;
  /** OpenBao, then Vault. */
  readonly servers: readonly ScaleServer[];
  /** The three-node Raft clusters' restart with their leases (bench/raft-restart.ts), OpenBao then Vault; empty when not run. */
  readonly restarts: readonly RaftRestartFigures[];
}

/** Section 7 not run; its heading still says up to how many leases. */
export interface LeaseScaleNotRun extends NotRun {
  readonly levels: readonly number[];
}

/** How section 7 runs (BENCH_SCALE_LEVELS, BENCH_SCALE_SAMPLES, BENCH_DRAIN_LEASES, BENCH_RAFT_RESTART_LEASES). */
export interface LeaseScaleOptions {
  /** Active-lease levels, ascending; the first may be 0. */
  readonly levels: readonly number[];
  /** Credentials issued at concurrency 16 per role and level; a quarter of them at concurrency 1. */
  readonly samples: number;
  /** Leases of the drain (0: no drain). */
  readonly drainLeases: number;
  /** Leases a Raft cluster holds when restarted (0: no restart). */
  readonly raftRestartLeases: number;
  readonly names: LocalStackNames;
}

/** The fill's lease lifetime: longer than any run, so that no fill lease expires while the curve is measured. */
const FILL_TTL = "4h";
/**
 * The drain's leases' TTL once cut (longer than cutting 10,000 takes, so that none expires before PostgreSQL is
 * stopped), and how long PostgreSQL stays down past the last expiry.
 */
const DRAIN_TTL_S = 180;
const DRAIN_EXTRA_DOWN_S = 60;
/** How long the drain may take once PostgreSQL is back: past the servers' longest retry (320 s ± 50 %). */
const DRAIN_WAIT_S = 900;
const PROFILE_SECONDS = 15;

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

/** The server's resident set, MiB (0 when it cannot be read). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, "utf8") : "");
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

async function issuedUsers(env: LocalDeployment): Promise<number> {
  return Number((await env.pg.query<{ n: string }>("SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE $1", [`${ISSUED_USER_PREFIX}%`]))[0].n);
}

/** One credential from `role`: its lease ID, or undefined when the server refused. */
async function issueLease(env: LocalDeployment, mountPath: string, role: string): Promise<string | undefined> {
  const res = await env.v("GET", `${mountPath}/creds/${role}`);
  return res.status === 200 ? (res.body.lease_id as string) : undefined;
}

/** Issuance at concurrency 1 and 16, renewal and revocation of what was issued, for one role. */
async function measureRole(env: LocalDeployment, mountPath: string, role: string, samples: number): Promise<RoleFigures> {
  const issue = () => issueLease(env, mountPath, role);
  const c1 = await timedCalls(Math.max(1, Math.round(samples / 4)), 1, issue);
  await env.pg.query("SELECT pg_stat_statements_reset()");
  const c16 = await timedCalls(samples, CONCURRENCY, issue);
  const statements = await env.pg.query<{ query: string; calls: string; mean: number; total: number }>(
    `SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, calls, mean_exec_time AS mean, total_exec_time AS total
       FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6`,
  );
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
    statements: statements.map((s) => ({
      query: s.query.length > 100 ? `${s.query.slice(0, 99)}…` : s.query,
      calls: Number(s.calls),
      meanMs: s.mean,
      totalMs: s.total,
    })),
  };
}

/** A CPU profile of the server for `seconds`, summarized by `go tool pprof -top` (its first lines). */
async function profileTop(env: LocalDeployment, scratch: string, seconds: number): Promise<string[]> {
  const res = await fetch(`${env.vault.address}/v1/sys/pprof/profile?seconds=${seconds}`, { headers: { "X-Vault-Token": env.vault.rootToken } });
  if (res.status !== 200) return [`no profile: sys/pprof/profile answered ${res.status}`];
  const file = join(scratch, `cpu-${env.vault.cli}.pb.gz`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const top = await run("go", ["tool", "pprof", "-top", "-nodecount=25", file]);
  if (top.code !== 0) return [`no profile: go tool pprof exited ${top.code}: ${top.stderr.trim().split("\n").pop()}`];
  return top.stdout.trim().split("\n");
}

async function startDeployment(toolchain: Toolchain, binary: string, ttl: string, log: string): Promise<LocalDeployment> {
  const env = await LocalDeployment.start({
    server: toolchain.postgres[0],
    vaultBinary: binary,
    tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
    // pg_stat_statements for the statements' times, nested ones (the credential functions' bodies) included;
    // 60,000 users, none logged in.
    postgres: { settings: { shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track": "all" } },
    patchConfig: (config) => {
      for (const a of config.applications) a.defaultTtl = ttl;
    },
    log,
  });
  try {
    await env.deploy();
    await env.pg.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    return env;
  } catch (err) {
    await env.stop();
    throw err;
  }
}

/** Issues leases across `roles` at concurrency 16 until `count` more are active; throws when more than 1 % fail. */
async function fill(env: LocalDeployment, mountPath: string, roles: readonly string[], count: number, what: string): Promise<string[]> {
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

async function curveOn(toolchain: Toolchain, binary: string, scratch: string, options: LeaseScaleOptions): Promise<Omit<ScaleServer, "drain">> {
  const { names, samples } = options;
  const env = await startDeployment(toolchain, binary, FILL_TTL, "[bench] scale:");
  try {
    await addRunbookRole(env, names);
    const levels: LevelFigures[] = [];
    let profile: string[] = [];
    let active = 0;
    for (const [i, level] of options.levels.entries()) {
      const t0 = performance.now();
      if (level > active) active += (await fill(env, names.mountPath, names.vaultRoles, level - active, `scale ${env.vault.product}`)).length;
      const fillS = (performance.now() - t0) / 1000;
      progress(`scale ${env.vault.label}: ${active} active leases (filled in ${fillS.toFixed(0)} s); measuring`);
      const top = i === options.levels.length - 1;
      const profiling = top ? profileTop(env, scratch, PROFILE_SECONDS) : undefined;
      const project = await measureRole(env, names.mountPath, names.projectRole.vaultRole, samples);
      profile = profiling ? await profiling : profile;
      const bare = await measureRole(env, names.mountPath, RUNBOOK_ROLE, samples);
      const figures: LevelFigures = {
        active,
        users: await issuedUsers(env),
        serverRssMiB: rssMiB(env.vault.pid),
        fillS,
        project,
        bare,
      };
      levels.push(figures);
      progress(
        `scale ${env.vault.label} at ${active}: issuance c16 p50 project ${project.issueC16.p50.toFixed(1)} ms, bare ${bare.issueC16.p50.toFixed(1)} ms; ` +
          `renew ${project.renew.p50.toFixed(1)} ms; revoke ${project.revoke.p50.toFixed(1)} ms; server ${figures.serverRssMiB} MiB`,
      );
    }
    return { label: env.vault.label, levels, profile };
  } finally {
    await env.stop();
  }
}

/** Lease IDs the server still holds under each role. */
async function leasesLeft(env: LocalDeployment, roles: readonly string[]): Promise<number> {
  let n = 0;
  for (const role of roles) n += (await env.outstandingLeases(role)).length;
  return n;
}

async function drainOn(toolchain: Toolchain, binary: string, options: LeaseScaleOptions): Promise<DrainFigures> {
  const { names, drainLeases } = options;
  const env = await startDeployment(toolchain, binary, FILL_TTL, "[bench] drain:");
  try {
    const what = `drain ${env.vault.product}`;
    const leases = await fill(env, names.mountPath, names.vaultRoles, drainLeases, what);
    // every lease cut to the same short TTL, so that they all expire within the outage.
    const cutStart = Date.now();
    await pool(leases.length, CONCURRENCY, async (i) => {
      const res = await env.v("PUT", "sys/leases/renew", { lease_id: leases[i], increment: `${DRAIN_TTL_S}s` });
      if (res.status !== 200) throw new Error(`${what}: renew ${leases[i]}: ${res.status} ${JSON.stringify(res.body)}`);
    });
    const lastExpiry = Date.now() + DRAIN_TTL_S * 1000;
    await env.pg.pause();
    const downAt = Date.now();
    progress(`${what}: ${leases.length} leases cut to ${DRAIN_TTL_S} s (in ${((downAt - cutStart) / 1000).toFixed(0)} s); PostgreSQL stopped`);
    await sleep(lastExpiry + DRAIN_EXTRA_DOWN_S * 1000 - Date.now());
    await env.pg.resume();
    const upAt = Date.now();
    progress(`${what}: PostgreSQL started again after ${((upAt - downAt) / 1000).toFixed(0)} s; waiting for the server's retries`);
    let left = { leases: leases.length, users: leases.length };
    while (Date.now() - upAt < DRAIN_WAIT_S * 1000) {
      left = { leases: await leasesLeft(env, names.vaultRoles), users: await issuedUsers(env) };
      if (left.leases === 0 && left.users === 0) break;
      await sleep(2000);
    }
    const drainS = (Date.now() - upAt) / 1000;
    const figures: DrainFigures = {
      leases: leases.length,
      ttlS: DRAIN_TTL_S,
      cutS: (downAt - cutStart) / 1000,
      outageS: (upAt - downAt) / 1000,
      drainS,
      drained: left.leases === 0 && left.users === 0,
      leasesLeft: left.leases,
      usersLeft: left.users,
      irrevocable: await env.irrevocableLeases(),
    };
    progress(`${what}: ${figures.drained ? "drained" : "NOT drained"} in ${drainS.toFixed(0)} s; ${left.leases} leases, ${left.users} users left`);
    return figures;
  } finally {
    await env.stop();
  }
}

/** Measures section 7 on OpenBao, then on Vault (each server's drain beside the other's, to halve the wait). */
export async function measureLeaseScale(
  toolchain: Toolchain | undefined,
  missing: string | undefined,
  options: LeaseScaleOptions,
): Promise<LeaseScaleResult | LeaseScaleNotRun> {
  if (!toolchain) return { missing: `${missing}`, levels: options.levels };
  const scratch = mkdtempSync(join(tmpdir(), "keybuzz-bench-scale-"));
  const binaries = [toolchain.bao, toolchain.vault];
  try {
    const curves: Omit<ScaleServer, "drain">[] = [];
    for (const binary of binaries) curves.push(await curveOn(toolchain, binary, scratch, options));
    const drains = options.drainLeases > 0 ? await Promise.all(binaries.map((b) => drainOn(toolchain, b, options))) : [];
    const restarts: RaftRestartFigures[] = [];
    if (options.raftRestartLeases > 0) {
      for (const b of binaries) restarts.push(await raftRestartOn(toolchain, b, options.raftRestartLeases, options.names.vaultRoles));
    }
    return {
      measuredAt: new Date().toISOString(),
      postgresMajor: toolchain.postgres[0].major,
      samplesC1: Math.max(1, Math.round(options.samples / 4)),
      samplesC16: options.samples,
      profileSeconds: PROFILE_SECONDS,
      servers: curves.map((c, i) => ({ ...c, drain: drains[i] })),
      restarts,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
