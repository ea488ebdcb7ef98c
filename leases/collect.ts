/**
 * Reads what the lease audit needs: this mount's leases and irrevocable leases from Vault, the issued users
 * and orphan sessions from PostgreSQL (logged in with a credential of the audit's own Vault role), and the
 * probe (one credential of a role with no privilege, issued and revoked).
 */
import { Client, type ClientConfig } from "pg";
import { LEASE_AUDIT_NAMES } from "../stacks/keybuzz-names";
import { ISSUED_USER_PREFIX } from "../constructs/vocabulary";
import type { Inventory, IrrevocableLease, IssuedUser, Lease, OrphanSession, Probe } from "./model";
import type { Target } from "./target";
import { errorsOf, type VaultReply } from "./vault-client";

/** A credential as Vault hands it out. */
export interface Credential {
  readonly username: string;
  readonly password: string;
  readonly leaseId: string;
}

/**
 * Lookups in flight at once. 4 reads 10,000 leases in about 3.6 s here (16: 3.0 s), and is gentler on a
 * Vault that also issues; issuance slowed the same with either (BENCHMARKS.md §5).
 */
export const LOOKUP_CONCURRENCY = 4;

/** The credential in Vault's answer to reading `path` (`<mount>/creds/<role>`); throws with Vault's answer unless it succeeded. */
export function credentialOf(path: string, res: VaultReply): Credential {
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${errorsOf(res)}`);
  return { username: res.body.data.username, password: res.body.data.password, leaseId: res.body.lease_id };
}

/** Reads `<mount>/creds/<role>`; throws with Vault's answer unless it succeeds. */
export async function issue(t: Target, vaultRole: string): Promise<Credential> {
  const path = `${t.mountPath}/creds/${vaultRole}`;
  return credentialOf(path, await t.vault.call("GET", path));
}

/** Revokes one lease, with its ID in the path (what the audit's policies allow). */
export async function revoke(t: Target, leaseId: string): Promise<void> {
  await t.vault.ok("PUT", `sys/leases/revoke/${leaseId}`);
}

/** Issues and revokes one credential of the probe role: does Vault reach PostgreSQL right now? */
export async function probe(t: Target): Promise<Probe> {
  const t0 = performance.now();
  try {
    const cred = await issue(t, LEASE_AUDIT_NAMES.probeRole);
    await revoke(t, cred.leaseId);
    return { ok: true, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - t0), error: (err as Error).message };
  }
}

const seconds = (iso: string) => Date.parse(iso) / 1000;

/**
 * The lease IDs in Vault's answer to listing `prefix` (`<mount>/creds/<role>/`), each with its Vault role;
 * none for a 404 (no lease under it); throws with Vault's answer for any other failure.
 */
export function listedLeases(prefix: string, vaultRole: string, res: VaultReply): { id: string; vaultRole: string }[] {
  if (res.status === 404) return [];
  if (res.status !== 200) throw new Error(`listing the leases of ${prefix}: ${res.status} ${errorsOf(res)}`);
  return ((res.body.data?.keys as string[]) ?? []).map((key) => ({ id: `${prefix}${key}`, vaultRole }));
}

/**
 * The lease in Vault's answer to looking `id` up (times in Unix seconds); undefined for a 400, "invalid
 * lease": revoked since the listing; throws with Vault's answer for any other failure.
 */
export function leaseOf(id: string, vaultRole: string, res: VaultReply): Lease | undefined {
  if (res.status === 400) return undefined;
  if (res.status !== 200) throw new Error(`looking up ${id}: ${res.status} ${errorsOf(res)}`);
  const d = res.body.data;
  return { id, vaultRole, issueTime: seconds(d.issue_time), expireTime: seconds(d.expire_time), renewable: Boolean(d.renewable) };
}

/**
 * The leases Vault holds for each application's role, with their metadata; `known` (from an earlier
 * reading) saves looking up a lease again. A lease revoked between the listing and its lookup is left out.
 */
export async function readLeases(
  t: Target,
  known: ReadonlyMap<string, Lease> = new Map(),
  progress?: (done: number, total: number) => void,
): Promise<Lease[]> {
  const ids: { id: string; vaultRole: string }[] = [];
  for (const app of t.applications) {
    const prefix = `${t.mountPath}/creds/${app.vaultRole}/`;
    ids.push(...listedLeases(prefix, app.vaultRole, await t.vault.call("GET", `sys/leases/lookup/${prefix}?list=true`)));
  }
  const leases: Lease[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < ids.length) {
      const { id, vaultRole } = ids[next++];
      const cached = known.get(id);
      if (cached) {
        leases.push(cached);
      } else {
        const lease = leaseOf(id, vaultRole, await t.vault.call("PUT", "sys/leases/lookup", { lease_id: id }));
        if (lease) leases.push(lease);
      }
      if (++done % 1000 === 0) progress?.(done, ids.length);
    }
  };
  await Promise.all(Array.from({ length: LOOKUP_CONCURRENCY }, worker));
  return leases;
}

/** The leases of `mountPath`'s credentials among the server's irrevocable ones (Vault's answer to `sys/leases?type=irrevocable`). */
export function irrevocableOf(mountPath: string, res: VaultReply): IrrevocableLease[] {
  const prefix = `${mountPath}/creds/`;
  const list = (res.body.data?.leases as { lease_id: string; error?: string }[] | null) ?? [];
  return list.filter((l) => l.lease_id.startsWith(prefix)).map((l) => ({ id: l.lease_id, error: l.error ?? "" }));
}

/** This mount's irrevocable leases, with Vault's last error (Vault lists them server-wide only). */
export async function readIrrevocable(t: Target): Promise<IrrevocableLease[]> {
  return irrevocableOf(t.mountPath, await t.vault.ok("GET", "sys/leases?type=irrevocable&limit=none"));
}

/** The client options for PostgreSQL with this sslmode: verify-full and verify-ca check the certificate against the CA. */
export function pgConfig(t: Target, cred: Credential): ClientConfig {
  const { host, port, database, sslmode, ca } = t.postgres;
  const ssl =
    sslmode === "disable"
      ? false
      : sslmode === "verify-full"
        ? { ca, rejectUnauthorized: true }
        : sslmode === "verify-ca"
          ? { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }
          : { rejectUnauthorized: false }; // require / prefer / allow: encrypted, not verified, as libpq does.
  return {
    host,
    port,
    database,
    user: cred.username,
    password: cred.password,
    ssl,
    connectionTimeoutMillis: 10_000,
    application_name: "keybuzz-leases",
  };
}

/** A row of {@link readPostgres}'s query of issued users, as `pg` returns it. */
export interface UserRow {
  readonly name: string;
  readonly can_login: boolean;
  /** Epoch seconds of VALID UNTIL: null without one, `Infinity` for 'infinity'. */
  readonly valid_until: number | null;
  readonly member_of: string[];
  readonly sessions: number;
}

/** A session of a dropped role, as the audit's orphan-sessions function returns it (JSON). */
export interface SessionRow {
  readonly pid: number;
  readonly database: string;
  readonly role_oid: number;
  /** Epoch seconds. */
  readonly backend_start: number;
}

/** An issued user from its row; a VALID UNTIL of 'infinity' is none. */
export function issuedUserOf(u: UserRow): IssuedUser {
  return {
    name: u.name,
    canLogin: u.can_login,
    validUntil: u.valid_until === null || !Number.isFinite(Number(u.valid_until)) ? null : Number(u.valid_until),
    memberOf: u.member_of,
    sessions: u.sessions,
  };
}

/** A session whose role is gone, from its row. */
export function orphanSessionOf(s: SessionRow): OrphanSession {
  return { pid: s.pid, database: s.database, roleOid: Number(s.role_oid), backendStart: Number(s.backend_start) };
}

/**
 * Issued users (every role named `v-…` but the audit's own, logged in now) with their memberships and
 * sessions, and sessions whose role is gone.
 */
export async function readPostgres(client: Client): Promise<{ users: IssuedUser[]; orphanSessions: OrphanSession[] }> {
  const users = await client.query<UserRow>(
    `SELECT r.rolname AS name, r.rolcanlogin AS can_login, extract(epoch FROM r.rolvaliduntil)::float8 AS valid_until,
            ARRAY(SELECT g.rolname::text FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                   WHERE m.member = r.oid ORDER BY 1) AS member_of,
            (SELECT count(*) FROM pg_catalog.pg_stat_activity a WHERE a.usesysid = r.oid)::int AS sessions
       FROM pg_catalog.pg_roles r WHERE pg_catalog.left(r.rolname, $1) = $2 AND r.rolname <> current_user ORDER BY 1`,
    [ISSUED_USER_PREFIX.length, ISSUED_USER_PREFIX],
  );
  // the sessions of dropped roles: pg_stat_activity hides when they started from a role without pg_read_all_stats,
  // which the audit does not hold (it would show every application's statements); the stack's function tells.
  const { sessionsSchema, orphanSessionsFunction } = LEASE_AUDIT_NAMES;
  const [{ sessions }] = (await client.query<{ sessions: SessionRow[] }>(`SELECT ${sessionsSchema}.${orphanSessionsFunction}() AS sessions`)).rows;
  return { users: users.rows.map(issuedUserOf), orphanSessions: sessions.map(orphanSessionOf) };
}

/**
 * Logs in to PostgreSQL with a fresh credential of `vaultRole` (the audit's or the fix's), runs `work`, then
 * closes the session and revokes the credential, whatever happened.
 */
export async function withPostgres<T>(t: Target, vaultRole: string, work: (client: Client) => Promise<T>): Promise<T> {
  const cred = await issue(t, vaultRole);
  try {
    const client = new Client(pgConfig(t, cred));
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  } finally {
    await revoke(t, cred.leaseId);
  }
}

/**
 * One reading: the probe, then leases (reusing `known` lookups) and irrevocable leases, then PostgreSQL. The
 * probe goes first, so that its own credential, revoked by then, is never among the leases read.
 */
export async function readInventory(t: Target, known?: ReadonlyMap<string, Lease>, progress?: (message: string) => void): Promise<Inventory> {
  const probeResult = await probe(t);
  const now = Date.now() / 1000;
  const [leases, irrevocable] = await Promise.all([
    readLeases(t, known, (done, total) => progress?.(`looked up ${done} of ${total} leases`)),
    readIrrevocable(t),
  ]);
  try {
    const postgres = await withPostgres(t, LEASE_AUDIT_NAMES.auditRole, readPostgres);
    return { now, leases, irrevocable, probe: probeResult, postgres };
  } catch (err) {
    return { now, leases, irrevocable, probe: probeResult, postgres: null, postgresError: (err as Error).message };
  }
}
