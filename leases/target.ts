/**
 * Where the lease audit looks, from one environment's config: its Vault mount, its PostgreSQL database,
 * and the applications (with the audit's own three Vault roles) whose leases and users it holds together.
 */
import { leaseAuditRoles } from "../constructs/lease-audit";
import { FUNCTIONS_SCHEMA, LEASE_AUDIT_NAMES, leaseBudgetOf } from "../stacks/keybuzz-names";
import type { EnvironmentConfig } from "../stacks/environment";
import type { AuditedApplication } from "./model";
import { VaultClient } from "./vault-client";

/** One environment's Vault mount and PostgreSQL database. */
export interface Target {
  readonly environment: string;
  readonly vault: VaultClient;
  readonly mountPath: string;
  /** The schema of the credential functions (`<schema>.drop_user(…)`) in the application database. */
  readonly functionsSchema: string;
  readonly postgres: {
    readonly host: string;
    readonly port: number;
    readonly database: string;
    readonly sslmode: string;
    /** PEM of the CA that signed PostgreSQL's certificate (verify-ca / verify-full). */
    readonly ca?: string;
  };
  /** The configured applications and the audit's own roles. */
  readonly applications: readonly AuditedApplication[];
}

/** The applications of an environment as the audit sees them, and the audit's own three roles (as LeaseAudit builds them). */
export function auditedApplications(config: EnvironmentConfig): AuditedApplication[] {
  return [
    ...config.applications.map((a) => ({
      name: a.name,
      vaultRole: a.vaultRole,
      allowedRoles: [a.baseRole, ...a.additionalBaseRoles],
      leaseBudget: leaseBudgetOf(a),
    })),
    ...leaseAuditRoles(LEASE_AUDIT_NAMES).map((r) => ({ name: "leases-audit", vaultRole: r.vaultRole, allowedRoles: [...r.baseRoles] })),
  ];
}

/** The target of a validated environment, with a Vault token (and the PEM of Vault's CA, if private). */
export function targetFor(config: EnvironmentConfig, token: string, vaultCa?: string): Target {
  return {
    environment: config.name,
    vault: new VaultClient(config.vault.address, token, vaultCa),
    mountPath: config.vault.mountPath,
    functionsSchema: FUNCTIONS_SCHEMA,
    postgres: {
      host: config.postgres.host,
      port: config.postgres.port,
      database: config.postgres.database,
      sslmode: config.postgres.sslmode,
      ca: config.postgresCaCert?.pem,
    },
    applications: auditedApplications(config),
  };
}
