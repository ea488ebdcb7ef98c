/**
 * What the lease audit reads from Vault and PostgreSQL (an {@link Inventory}) and what it concludes (a
 * {@link Report}). Plain data: `leases/collect.ts` fills an inventory, `leases/audit.ts` turns it into a
 * report, `leases/format.ts` prints it, `leases/fix.ts` acts on it.
 */

/** One application as the audit sees it: the Vault role that issues its users and the roles they may hold. */
export interface AuditedApplication {
  /** Application name from config (or `leases audit` for the audit's own roles). */
  readonly name: string;
  readonly vaultRole: string;
  /** Every role an issued user of this Vault role may be a member of (its login base role first). */
  readonly allowedRoles: readonly string[];
  /** The most active leases it may hold (its config's lease budget); none for the audit's own roles. */
  readonly leaseBudget?: number;
}

/** A lease Vault holds under `<mount>/creds/<vaultRole>/`. */
export interface Lease {
  readonly id: string;
  readonly vaultRole: string;
  /** Unix seconds (with fractions). */
  readonly issueTime: number;
  readonly expireTime: number;
  readonly renewable: boolean;
}

/** A lease Vault gave up revoking. */
export interface IrrevocableLease {
  readonly id: string;
  /** Vault's last revocation error. */
  readonly error: string;
}

/** A PostgreSQL role whose name starts with Vault's prefix (`v-`). */
export interface IssuedUser {
  readonly name: string;
  readonly canLogin: boolean;
  /** Unix seconds, or null for no VALID UNTIL. */
  readonly validUntil: number | null;
  /** Roles it is a direct member of. */
  readonly memberOf: readonly string[];
  /** Its sessions, in any database. */
  readonly sessions: number;
}

/** A session whose role no longer exists. */
export interface OrphanSession {
  readonly pid: number;
  readonly database: string;
  readonly roleOid: number;
  /** Unix seconds. */
  readonly backendStart: number;
}

/** The end-to-end probe: one credential issued and revoked through Vault's connection. */
export interface Probe {
  readonly ok: boolean;
  readonly ms: number;
  /** Vault's answer when it failed. */
  readonly error?: string;
}

/** Everything the audit read, at one moment. */
export interface Inventory {
  /** Unix seconds when the reading began. */
  readonly now: number;
  readonly leases: readonly Lease[];
  /** Irrevocable leases of this mount's credentials only. */
  readonly irrevocable: readonly IrrevocableLease[];
  readonly probe: Probe;
  /** Null when PostgreSQL could not be read (with the reason). */
  readonly postgres: { readonly users: readonly IssuedUser[]; readonly orphanSessions: readonly OrphanSession[] } | null;
  readonly postgresError?: string;
}

export type FindingKind =
  | "probe_failed"
  | "irrevocable_lease"
  | "orphan_user"
  | "dangling_lease"
  | "expired_user_with_sessions"
  | "orphan_session"
  | "foreign_membership"
  | "revoked_not_dropped"
  | "over_budget";

/** Every kind, in the order a report lists them. */
export const FINDING_KINDS: readonly FindingKind[] = [
  "probe_failed",
  "irrevocable_lease",
  "orphan_user",
  "dangling_lease",
  "expired_user_with_sessions",
  "orphan_session",
  "foreign_membership",
  "revoked_not_dropped",
  "over_budget",
];

/** One thing wrong. */
export interface Finding {
  readonly kind: FindingKind;
  /** The application it belongs to, when known. */
  readonly application?: string;
  readonly vaultRole?: string;
  /** The user name, lease ID or session it is about. */
  readonly subject: string;
  /** For a session: the database it is in. */
  readonly database?: string;
  /** What is wrong, in a sentence. */
  readonly detail: string;
  /**
   * False when another user or lease issued in the same seconds could be the match: reported, never
   * fixed automatically.
   */
  readonly certain: boolean;
}

/** Per application: the leases Vault holds and the users PostgreSQL has. */
export interface ApplicationSummary {
  readonly application: string;
  readonly vaultRole: string;
  /** Leases not yet expired. */
  readonly active: number;
  /** Active leases that expire within the window. */
  readonly expiring: number;
  readonly renewable: number;
  readonly nonRenewable: number;
  /** Leases past their expiry that Vault still holds and still tries to revoke (irrevocable ones not included). */
  readonly pending: number;
  readonly irrevocable: number;
  /** Issued users that can log in (null when PostgreSQL was not read). */
  readonly users: number | null;
  /** Its lease budget (null for the audit's own roles, which have none). */
  readonly budget: number | null;
}

export interface Report {
  readonly environment: string;
  /** ISO time of the reading. */
  readonly checkedAt: string;
  readonly durationSeconds: number;
  readonly expiringWindowSeconds: number;
  readonly probe: Probe;
  readonly postgresChecked: boolean;
  readonly postgresError?: string;
  readonly applications: readonly ApplicationSummary[];
  readonly findings: readonly Finding[];
}
