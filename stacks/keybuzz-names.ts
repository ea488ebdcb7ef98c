/**
 * The names KeyBuzz gives what the constructs leave to their user (the constructs ship neutral defaults):
 * written once here, and read by the config's defaults, the stack, `npm run leases`, `npm run sandbox` and
 * the bench.
 */
import { leaseAuditNames } from "../constructs/lease-audit";

/** The schema of the functions that create, renew and drop issued users (`keybuzz_vault.create_user(…)`). */
export const FUNCTIONS_SCHEMA = "keybuzz_vault";

/** The lease audit's Vault roles and policies, base roles and schema (`keybuzz_leases_audit`, `keybuzz-leases-audit`…). */
export const LEASE_AUDIT_NAMES = leaseAuditNames("keybuzz");

/** The defaults of an environment file where KeyBuzz's differ from the constructs' neutral ones. */
export const KEYBUZZ_DEFAULTS = {
  /** postgres.database. */
  database: "keybuzz",
  /** connection.name. */
  connectionName: "keybuzz-postgres",
  /** agent.configDirectory. */
  agentConfigDirectory: "/etc/keybuzz-agent",
  /** agent.runDirectory. */
  agentRunDirectory: "/run/keybuzz-agent",
  /** applications[].replicas. */
  replicas: 1,
} as const;

/**
 * The lease budget an application gets when its config sets none: per process, its credential and the previous
 * one (a rollover's or a restart's, which lives on until its TTL when nobody revokes it), times two for a
 * rolling deploy's or a restart's processes that overlap the old ones. So 4 × replicas: past it, leases are
 * piling up faster than they end (a crash loop, a CronJob, processes killed before they revoke).
 */
export const LEASE_BUDGET = { leasesPerProcess: 2, overlap: 2 } as const;

/** The stack's output of what each application gets, and the field of it that holds its lease budget (the review reads it). */
export const APPLICATIONS_OUTPUT = { name: "applications", leaseBudget: "lease_budget" } as const;

/** An application's lease budget: its config's `leaseBudget`, else {@link LEASE_BUDGET} × its replicas. */
export function leaseBudgetOf(app: { readonly replicas: number; readonly leaseBudget?: number }): number {
  return app.leaseBudget ?? app.replicas * LEASE_BUDGET.leasesPerProcess * LEASE_BUDGET.overlap;
}

/** What Vault shows for the mount and the auth methods, and the label of the Kubernetes objects written. */
export const KEYBUZZ_LABELS = {
  mountDescription: "KeyBuzz dynamic PostgreSQL credentials",
  approleDescription: "KeyBuzz applications outside Kubernetes",
  kubernetesDescription: "KeyBuzz pods",
  managedBy: "keybuzz-vault-cdktf",
} as const;
