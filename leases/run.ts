/**
 * One run of `npm run leases`, without its command line: read, read again to confirm the findings, report,
 * plan (`--fix`) and apply (`--fix --apply`) the fixes, and the exit status that says how it went.
 * scripts/leases.ts parses the arguments, calls {@link runAudit} and prints what it returns.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type AuditOptions, audit, confirmed } from "./audit";
import { readInventory } from "./collect";
import { type FixOutcome, type FixPlan, applyFixes, planFixes } from "./fix";
import type { Inventory, Lease, Report } from "./model";
import type { Target } from "./target";

/** Milliseconds between the reading and the one that confirms its findings. */
export const CONFIRM_AFTER_MS = 1000;

/**
 * The exit statuses of `npm run leases` (docs/operations.md): healthy; could not look, or an action of
 * `--apply` failed; something found (with `--apply`: something left for a person).
 */
export const EXIT = { healthy: 0, failed: 1, found: 2 } as const;

/** Options of {@link runAudit}: the audit's, and whether to plan or apply the fixes. */
export interface RunOptions extends AuditOptions {
  /**
   * `plan`: say what `--fix` would do (changes nothing); `apply`: do it.
   * @default - no fix
   */
  readonly fix?: "plan" | "apply";
}

/** What {@link runAudit} reads and acts with; a test gives its own, and needs no server. */
export interface RunIo {
  /** One reading of Vault and PostgreSQL. @default - leases/collect.ts's readInventory */
  readonly readInventory: (t: Target, known?: ReadonlyMap<string, Lease>, progress?: (message: string) => void) => Promise<Inventory>;
  /** Runs the planned fixes. @default - leases/fix.ts's applyFixes */
  readonly applyFixes: (t: Target, plan: FixPlan) => Promise<FixOutcome[]>;
  /** Waits before the confirming reading. @default - {@link CONFIRM_AFTER_MS} */
  readonly pause: () => Promise<void>;
  /** Milliseconds on a monotonic clock, for the report's duration. @default - performance.now */
  readonly clock: () => number;
  /** Progress, one line at a time. @default - none */
  readonly progress: (message: string) => void;
}

/** How a run went: the report (and the fixes) with its exit status, or why it could not look. */
export type AuditRun =
  | {
      readonly looked: true;
      readonly report: Report;
      /** With `fix`. */
      readonly plan?: FixPlan;
      /** With `fix: "apply"`: each action's outcome. */
      readonly applied?: readonly FixOutcome[];
      readonly exitCode: 0 | 1 | 2;
    }
  | {
      /** Vault could not be read (either reading): nothing is known, and nothing was fixed. */
      readonly looked: false;
      readonly error: string;
      readonly exitCode: 1;
    };

const couldNotLook = (err: unknown): AuditRun => ({ looked: false, error: err instanceof Error ? err.message : String(err), exitCode: EXIT.failed });

const LIVE: RunIo = {
  readInventory,
  applyFixes: (t, plan) => applyFixes(t, plan),
  pause: () => sleep(CONFIRM_AFTER_MS),
  clock: () => performance.now(),
  progress: () => {},
};

/**
 * Audits `target`: reads it, and when that finds something, reads it again {@link CONFIRM_AFTER_MS} later
 * and reports only the findings both readings show (a credential caught while being issued or revoked is
 * not reported); then plans the fixes of the confirmed findings, and applies them with `fix: "apply"`.
 *
 * Exit status ({@link EXIT}): 1 when it could not look (no report) or an applied action failed; with
 * `apply`, 2 when some finding is left for a person; otherwise 2 when anything was found. Else 0, but 1 when
 * PostgreSQL could not be read: with half the picture missing, "healthy" would be a guess.
 */
export async function runAudit(target: Target, options: RunOptions, io: Partial<RunIo> = {}): Promise<AuditRun> {
  const { readInventory: read, applyFixes: apply, pause, clock, progress } = { ...LIVE, ...io };
  const t0 = clock();
  progress(
    `reading ${target.environment}: Vault ${target.vault.address} (${target.mountPath}), PostgreSQL ${target.postgres.host}:${target.postgres.port}/${target.postgres.database}`,
  );
  let inventory: Inventory;
  try {
    inventory = await read(target, undefined, progress);
  } catch (err) {
    return couldNotLook(err);
  }
  let result = audit(inventory, target.applications, options);
  if (result.findings.length > 0) {
    // read again: what a credential being issued or revoked showed for a moment is not reported.
    progress(`${result.findings.length} finding(s); reading again to confirm them`);
    await pause();
    const known = new Map<string, Lease>(inventory.leases.map((l) => [l.id, l]));
    try {
      inventory = await read(target, known, progress);
    } catch (err) {
      return couldNotLook(err);
    }
    const again = audit(inventory, target.applications, options);
    result = { applications: again.applications, findings: confirmed(again.findings, result.findings) };
  }
  const report: Report = {
    environment: target.environment,
    checkedAt: new Date(inventory.now * 1000).toISOString(),
    durationSeconds: (clock() - t0) / 1000,
    expiringWindowSeconds: options.expiringWindowSeconds,
    probe: inventory.probe,
    postgresChecked: inventory.postgres !== null,
    postgresError: inventory.postgresError,
    ...result,
  };
  progress(
    `${inventory.leases.length} lease(s), ${inventory.postgres?.users.length ?? "?"} issued user(s), ${report.findings.length} finding(s) in ${report.durationSeconds.toFixed(1)} s`,
  );

  const clean = report.postgresChecked ? EXIT.healthy : EXIT.failed;
  const plan = options.fix ? planFixes(report.findings, target) : undefined;
  if (!plan || options.fix !== "apply") return { looked: true, report, plan, exitCode: report.findings.length > 0 ? EXIT.found : clean };
  const applied = await apply(target, plan);
  const exitCode = applied.some((a) => !a.ok) ? EXIT.failed : plan.skipped.length > 0 ? EXIT.found : clean;
  return { looked: true, report, plan, applied, exitCode };
}
