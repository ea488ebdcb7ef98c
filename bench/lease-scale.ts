/**
 * Section 7, lease explosions: what tens of thousands of active leases do to issuance, renewal and revocation, how
 * long the servers take to drain expired leases after a PostgreSQL outage, and how long a Raft cluster holding them
 * takes to serve again after a restart. Each server with its own throwaway PostgreSQL 15 (`pg_stat_statements`
 * loaded), the `local` stack deployed by OpenTofu, the runbook's bare role beside the project's
 * (bench/runbook-role.ts).
 *
 * - **The curve** (bench/lease-curve.ts), on OpenBao and Vault dev servers (in-memory storage), then on three-node
 *   Raft clusters, production's storage (bench/raft-restart.ts): at each level of active leases (default 0, 10,000
 *   and 50,000), issuance at concurrency 1 and 16 for both roles, renewal and revocation, the server's memory, the
 *   PostgreSQL statements that took the time and, on the dev servers at their top level, the server's CPU profile.
 *   OpenBao's dev server stops at {@link OPENBAO_DEV_TOP}: its in-memory storage copies itself whole at the start of
 *   every transaction, so each lease makes every later one slower and the fill to 50,000 alone would take an hour.
 * - **Drain after an outage** ({@link measureDrains}; BENCH_ONLY=drain runs it alone): a fresh deployment per
 *   server and storage (both servers' dev deployments side by side, then their Raft clusters), 10,000 leases whose
 *   TTL is then cut to 300 s (a renewal with that increment, which PostgreSQL must answer), PostgreSQL stopped until
 *   every one has expired and 60 s more, then started: the time until the server has revoked every lease and dropped
 *   every user, and what is left irrevocable or orphaned.
 * - **A Raft cluster restarted** with the curve's top level of leases (bench/raft-restart.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pool } from "../harness/processes";
import type { Toolchain } from "../harness/toolchain";
import { serverProduct } from "../harness/vault";
import { type Curve, type Deployment, fill, issuedUsers, measureCurve, PROFILE_SECONDS } from "./lease-curve";
import type { LocalStackNames } from "./local-stack";
import { CONCURRENCY, type NotRun, progress } from "./measure";
import { type RaftRestartFigures, raftCurveAndRestart } from "./raft-restart";
import { addRunbookRole } from "./runbook-role";
import { type BenchDeployment, startDevDeployment, startRaftDeployment } from "./scale-deployment";

export type { LevelFigures, Latency, RoleFigures, StatementTime } from "./lease-curve";

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
  /** Leases and users left at the end (-1: no poll was answered, so unknown). */
  readonly leasesLeft: number;
  readonly usersLeft: number;
  /** Leases the server gave up revoking (-1: it did not say). */
  readonly irrevocable: number;
  /** Polls of the drain the server did not answer. */
  readonly unansweredPolls: number;
}

/** A part of section 7 that failed, and why (the other parts are still reported). */
export interface PartFailed {
  readonly failed: string;
}

/** A dev server's in-memory storage, or three nodes of Raft. */
export type Storage = "dev" | "raft";

/** One server and storage's curve. */
export interface ScaleServer extends Curve {
  /** "OpenBao 2.6.2" or "Vault 1.21.0". */
  readonly label: string;
  readonly storage: Storage;
  readonly restart?: RaftRestartFigures;
}

/** One server and storage's drain, or why it failed. */
export interface DrainRun {
  readonly label: string;
  readonly storage: Storage;
  readonly drain: DrainFigures | PartFailed;
}

/** The drains of one run: OpenBao then Vault on dev servers, then (when run) on Raft. */
export interface DrainResult {
  readonly measuredAt: string;
  readonly postgresMajor: number;
  readonly drains: readonly DrainRun[];
}

/** What section 7 measured. */
export interface LeaseScaleResult {
  readonly measuredAt: string;
  readonly postgresMajor: number;
  readonly samplesC1: number;
  readonly samplesC16: number;
  readonly profileSeconds: number;
  /** The top level OpenBao's dev server was filled to. */
  readonly openbaoDevTop: number;
  /** OpenBao then Vault on dev servers, then (when run) OpenBao then Vault on Raft. */
  readonly servers: readonly ScaleServer[];
  /** The drains (none when BENCH_DRAIN_LEASES=0). */
  readonly drains: readonly DrainRun[];
  /** The Raft clusters whose part failed, with why. */
  readonly raftFailures: readonly (PartFailed & { readonly binary: string })[];
}

/** Section 7 not run; its heading still says up to how many leases. */
export interface LeaseScaleNotRun extends NotRun {
  readonly levels: readonly number[];
}

/** How section 7 runs (BENCH_SCALE_LEVELS, BENCH_SCALE_SAMPLES, BENCH_DRAIN_LEASES, BENCH_SCALE_RAFT). */
export interface LeaseScaleOptions {
  /** Active-lease levels, ascending; the first may be 0. */
  readonly levels: readonly number[];
  /** Credentials issued at concurrency 16 per role and level; a quarter of them at concurrency 1. */
  readonly samples: number;
  /** Leases of the drain (0: no drain). */
  readonly drainLeases: number;
  /** Whether to measure the curve, the drain and the restart on three-node Raft clusters too. */
  readonly raft: boolean;
  readonly names: LocalStackNames;
}

/** The highest level OpenBao's dev server is filled to (see the file's comment). */
export const OPENBAO_DEV_TOP = 10_000;

/**
 * The drain's leases' TTL once cut (longer than cutting 10,000 takes, so that none expires before PostgreSQL is
 * stopped), and how long PostgreSQL stays down past the last expiry.
 */
const DRAIN_TTL_S = 300;
const DRAIN_EXTRA_DOWN_S = 60;
/** How long the drain may take once PostgreSQL is back: past the longest retry a lease can be waiting for (160 s ± 50 %, its fifth). */
const DRAIN_WAIT_S = 600;

/** The curve on a dev server, with the server's CPU profile at its top level. */
async function devCurve(toolchain: Toolchain, binary: string, scratch: string, options: LeaseScaleOptions): Promise<ScaleServer> {
  const { product } = serverProduct(binary);
  const levels = product === "OpenBao" ? options.levels.filter((l) => l <= OPENBAO_DEV_TOP) : options.levels;
  const { env, stop } = await startDevDeployment(toolchain, binary, "[bench] scale:");
  try {
    await addRunbookRole(env, options.names);
    const curve = await measureCurve(env, options.names, {
      levels,
      samples: options.samples,
      profileIn: scratch,
      what: `scale ${env.vault.label} (dev)`,
    });
    return { label: env.vault.label, storage: "dev", ...curve };
  } finally {
    await stop();
  }
}

/** Lease IDs the server still holds under each role. */
async function leasesLeft(env: Deployment, roles: readonly string[]): Promise<number> {
  let n = 0;
  for (const role of roles) n += (await env.outstandingLeases(role)).length;
  return n;
}

/** The drain on a deployment `start` makes; stopped after. */
async function drainOn(start: () => Promise<BenchDeployment>, storage: Storage, options: DrainOptions): Promise<DrainFigures> {
  const { names, drainLeases } = options;
  const { env, stop } = await start();
  try {
    const what = `drain ${env.vault.label} (${storage === "dev" ? "dev" : "Raft"})`;
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
    // -1 until the server answers a poll: what is left is then unknown, not the count before the outage.
    let left = { leases: -1, users: -1 };
    let unanswered = 0;
    while (Date.now() - upAt < DRAIN_WAIT_S * 1000) {
      try {
        left = { leases: await leasesLeft(env, names.vaultRoles), users: await issuedUsers(env) };
      } catch (err) {
        // a server busy revoking may not answer a LIST in time: counted, and the wait goes on.
        if (++unanswered === 1) progress(`${what}: a poll went unanswered (${(err as Error).message}); still waiting`);
        continue;
      }
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
      irrevocable: await env.irrevocableLeases().catch(() => -1),
      unansweredPolls: unanswered,
    };
    progress(`${what}: ${figures.drained ? "drained" : "NOT drained"} in ${drainS.toFixed(0)} s; ${left.leases} leases, ${left.users} users left`);
    return figures;
  } finally {
    await stop();
  }
}

/** What the drains need of {@link LeaseScaleOptions}. */
type DrainOptions = Pick<LeaseScaleOptions, "names" | "drainLeases">;

const failed = (err: unknown): PartFailed => ({ failed: err instanceof Error ? err.message : String(err) });

/** Both servers' drains on one storage, side by side (what a failed one says is kept, the other measured). */
async function drainsOn(toolchain: Toolchain, storage: Storage, options: DrainOptions): Promise<DrainRun[]> {
  const binaries = [toolchain.bao, toolchain.vault];
  const starter = storage === "dev" ? startDevDeployment : startRaftDeployment;
  return Promise.all(
    binaries.map(async (binary): Promise<DrainRun> => {
      const { product, version } = serverProduct(binary);
      const drain = await drainOn(() => starter(toolchain, binary, `[bench] drain ${storage}:`), storage, options).catch(failed);
      return { label: `${product} ${version}`, storage, drain };
    }),
  );
}

/** Section 7 (or its drains) not run: what was missing, the toolchain or HAProxy for the Raft part. */
function notRunFor(toolchain: Toolchain | undefined, missing: string | undefined, options: Pick<LeaseScaleOptions, "levels">): LeaseScaleNotRun {
  return { missing: toolchain ? (missing ?? "HAProxy (tools/build.sh ha-topology)") : `${missing}`, levels: options.levels };
}

/** The drains alone (BENCH_ONLY=drain): on dev servers, then, with `raft`, on three-node Raft clusters. */
export async function measureDrains(
  toolchain: Toolchain | undefined,
  missing: string | undefined,
  options: DrainOptions & Pick<LeaseScaleOptions, "raft" | "levels">,
): Promise<DrainResult | LeaseScaleNotRun> {
  if (!toolchain || (options.raft && !toolchain.ha)) return notRunFor(toolchain, missing, options);
  const drains = await drainsOn(toolchain, "dev", options);
  if (options.raft) drains.push(...(await drainsOn(toolchain, "raft", options)));
  return { measuredAt: new Date().toISOString(), postgresMajor: toolchain.postgres[0].major, drains };
}

/** Measures section 7: the dev servers' curves, their drains side by side, then the Raft clusters' curves and drains. */
export async function measureLeaseScale(
  toolchain: Toolchain | undefined,
  missing: string | undefined,
  options: LeaseScaleOptions,
): Promise<LeaseScaleResult | LeaseScaleNotRun> {
  if (!toolchain || (options.raft && !toolchain.ha)) return notRunFor(toolchain, missing, options);
  const scratch = mkdtempSync(join(tmpdir(), "keybuzz-bench-scale-"));
  const binaries = [toolchain.bao, toolchain.vault];
  try {
    const dev: ScaleServer[] = [];
    for (const binary of binaries) dev.push(await devCurve(toolchain, binary, scratch, options));
    const drains = options.drainLeases > 0 ? await drainsOn(toolchain, "dev", options) : [];
    const raft: ScaleServer[] = [];
    const raftFailures: (PartFailed & { binary: string })[] = [];
    if (options.raft) {
      for (const binary of binaries) {
        try {
          const { label, curve, restart } = await raftCurveAndRestart(toolchain, binary, options.names, {
            levels: options.levels,
            samples: options.samples,
          });
          raft.push({ label, storage: "raft", ...curve, restart });
        } catch (err) {
          progress(`scale raft ${binary}: FAILED ${failed(err).failed}`);
          raftFailures.push({ binary, ...failed(err) });
        }
      }
      if (options.drainLeases > 0) drains.push(...(await drainsOn(toolchain, "raft", options)));
    }
    return {
      measuredAt: new Date().toISOString(),
      postgresMajor: toolchain.postgres[0].major,
      samplesC1: Math.max(1, Math.round(options.samples / 4)),
      samplesC16: options.samples,
      profileSeconds: PROFILE_SECONDS,
      openbaoDevTop: OPENBAO_DEV_TOP,
      raftFailures,
      servers: [...dev, ...raft],
      drains,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
