/**
 * Section 5, the lease audit (`npm run leases`) with 10,000 active leases (OpenBao and Vault, the machine's
 * PostgreSQL): wall time and peak RSS of the whole command, and issuance latency at concurrency 4 with and
 * without an audit running.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { LocalDeployment } from "../harness/deployment";
import { pool } from "../harness/processes";
import { localPaths, PROJECT_ROOT } from "../harness/stack";
import type { Toolchain } from "../harness/toolchain";
import { LOOKUP_CONCURRENCY } from "../leases/collect";
import { LEASE_AUDIT_NAMES } from "../stacks/keybuzz-names";
import { CONCURRENCY, type NotRun, progress, timed } from "./measure";

/** One run of `npm run leases` as a child process. */
export interface AuditRun {
  readonly wallS: number;
  readonly rssKb: number;
  /** The audit's own duration, from its report. */
  readonly auditS: number;
  /** Active leases the report counted. */
  readonly leases: number;
  readonly findings: number;
}

/** One server's figures. */
export interface AuditRuns {
  readonly label: string;
  /** How long issuing the leases took. */
  readonly issueS: number;
  readonly audits: readonly AuditRun[];
  /** Issuance latency in ms, alone and while audits run. */
  readonly alone: readonly number[];
  readonly during: readonly number[];
  /** Findings the audits reported while credentials were issued and revoked (none expected). */
  readonly duringFindings: number;
}

/** What section 5 measured. */
export interface LeaseAuditResult {
  /** When the measurement ended (ISO 8601). */
  readonly measuredAt: string;
  readonly postgresMajor: number;
  /** Active leases issued before the audits. */
  readonly leases: number;
  /** Audits run one after another on each server. */
  readonly runs: number;
  /** How many applications the leases were issued across. */
  readonly applications: number;
  /** The only policy the audit's token carries. */
  readonly auditPolicy: string;
  /** Lease lookups the audit makes at once. */
  readonly lookupConcurrency: number;
  /** OpenBao, then Vault. */
  readonly servers: readonly AuditRuns[];
}

/** Section 5 not run; its heading still says at how many leases. */
export interface LeaseAuditNotRun extends NotRun {
  readonly leases: number;
}

/** How section 5 runs. */
export interface LeaseAuditOptions {
  readonly leases: number;
  readonly runs: number;
  /** The Vault roles the leases are issued from (every application's). */
  readonly roles: readonly string[];
}

/** Issues `count` credentials at concurrency 4 and returns each one's latency in ms (then revokes them). */
async function issuanceLatencies(env: LocalDeployment, count: number, roles: readonly string[]): Promise<number[]> {
  const ms: number[] = [];
  const issued = await pool(count, 4, async (i) => {
    const t0 = performance.now();
    const c = await env.issue(roles[i % roles.length]);
    ms.push(performance.now() - t0);
    return c;
  });
  await pool(issued.length, CONCURRENCY, (i) => env.revoke(issued[i].leaseId));
  return ms;
}

async function auditOn(toolchain: Toolchain, binary: string, scratch: string, options: LeaseAuditOptions): Promise<AuditRuns> {
  const { leases: AUDIT_LEASES, runs: AUDIT_RUNS, roles } = options;
  const env = await LocalDeployment.start({
    server: toolchain.postgres[0],
    vaultBinary: binary,
    tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
    // 10,000 users, none logged in; the audit's own sessions are few.
    log: "[bench] leases:",
  });
  try {
    await env.deploy();
    const token = (await env.v("POST", "auth/token/create", { policies: [LEASE_AUDIT_NAMES.auditPolicy], no_default_policy: true, ttl: "2h" })).body
      .auth.client_token;
    const t0 = performance.now();
    let done = 0;
    await pool(AUDIT_LEASES, CONCURRENCY, async (i) => {
      await env.issue(roles[i % roles.length]);
      if (++done % 2000 === 0) progress(`leases ${env.vault.product}: ${done} of ${AUDIT_LEASES} credentials issued`);
    });
    const issueS = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 11_000)); // past the audit's grace: every lease is paired.
    const auditEnv = { ...process.env, KEYBUZZ_CONFIG_DIR: localPaths(env.dir).configDir, VAULT_TOKEN: token };
    const audit = async (): Promise<AuditRun> => {
      const out = join(scratch, `audit-${randomBytes(4).toString("hex")}.json`);
      const t = await timed(
        process.execPath,
        ["--import", "tsx", "scripts/leases.ts", "--env", "local", "--format", "json", "--output", out],
        PROJECT_ROOT,
        auditEnv,
        scratch,
        [0, 2],
      );
      const report = JSON.parse(readFileSync(out, "utf8"));
      rmSync(out);
      const leases = report.applications.reduce((n: number, a: { active: number }) => n + a.active, 0);
      for (const f of report.findings) progress(`leases ${env.vault.product}: FINDING ${f.kind} ${f.subject}: ${f.detail}`);
      return { ...t, auditS: report.durationSeconds as number, leases, findings: report.findings.length as number };
    };
    let duringFindings = 0;
    const audits: AuditRun[] = [];
    for (let i = 0; i < AUDIT_RUNS; i++) {
      audits.push(await audit());
      progress(
        `leases ${env.vault.product}: audit ${i + 1}/${AUDIT_RUNS}: ${audits.at(-1)!.wallS} s, ${audits.at(-1)!.leases} leases, ${audits.at(-1)!.findings} finding(s)`,
      );
    }
    const alone = await issuanceLatencies(env, 400, roles);
    let auditing = true;
    const background = (async () => {
      while (auditing) duringFindings += (await audit()).findings;
    })();
    // awaited below; this only keeps an early failure from ending the process before the servers are stopped.
    background.catch(() => undefined);
    const during = await issuanceLatencies(env, 400, roles);
    auditing = false;
    await background;
    return { label: env.vault.label, issueS, audits, alone, during, duringFindings };
  } finally {
    await env.stop();
  }
}

/** Measures section 5 on OpenBao, then on Vault; {@link LeaseAuditNotRun} without the toolchain. */
export async function measureLeaseAudit(
  toolchain: Toolchain | undefined,
  missing: string | undefined,
  options: LeaseAuditOptions,
): Promise<LeaseAuditResult | LeaseAuditNotRun> {
  if (!toolchain) return { missing: `${missing}`, leases: options.leases };
  const scratch = mkdtempSync(join(tmpdir(), "keybuzz-bench-leases-"));
  const servers: AuditRuns[] = [];
  try {
    for (const binary of [toolchain.bao, toolchain.vault]) servers.push(await auditOn(toolchain, binary, scratch, options));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return {
    measuredAt: new Date().toISOString(),
    postgresMajor: toolchain.postgres[0].major,
    leases: options.leases,
    runs: options.runs,
    applications: options.roles.length,
    auditPolicy: LEASE_AUDIT_NAMES.auditPolicy,
    lookupConcurrency: LOOKUP_CONCURRENCY,
    servers,
  };
}
