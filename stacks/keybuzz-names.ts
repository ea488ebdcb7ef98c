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
} as const;

/** What Vault shows for the mount and the auth methods, and the label of the Kubernetes objects written. */
export const KEYBUZZ_LABELS = {
  mountDescription: "KeyBuzz dynamic PostgreSQL credentials",
  approleDescription: "KeyBuzz applications outside Kubernetes",
  kubernetesDescription: "KeyBuzz pods",
  managedBy: "keybuzz-vault-cdktf",
} as const;
