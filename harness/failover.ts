/**
 * Credentials churned while a cluster's leader changes — the Patroni cluster behind HAProxy (the HA suite,
 * test/e2e/ha.test.ts, and `BENCH_ONLY=ha`) or the Raft cluster of Vault servers (the Raft suites) — and
 * what the churn saw.
 *
 * {@link CredentialChurn} runs workers that each loop issue → log in and query → renew → revoke, recording
 * every call with its start and end; with `expireEvery`, some credentials are renewed to a short TTL and
 * left to expire instead. {@link recoveryAfter} reads that record around an event (a switchover, a crash)
 * and says how long issuance was unavailable.
 */
import type { LocalDeployment, Creds, PostgresEndpoint } from "./deployment";
import type { PatroniCluster } from "./patroni";
import type { VaultEndpoint } from "./vault";
import { waitFor } from "./processes";

export type OpKind = "issue" | "login" | "renew" | "revoke";

/** One call of the churn: when it started and ended (ms since the epoch), and how it went. */
export interface Op {
  readonly kind: OpKind;
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  readonly error?: string;
}

/** What the churn saw around one event. */
export interface Recovery {
  /** The event's name, e.g. `switchover node1 → node2`. */
  readonly event: string;
  /**
   * How long until Vault issued credentials again: from the event to the later of the end of the first
   * successful issuance that started after the last failed one, and the end of the longest gap (unless
   * nothing failed and no gap reached {@link CHURN_PACE_MS}: then the first of those issuances alone).
   */
  readonly issuanceBackMs: number;
  /** The longest time, from the event on, in which no issuance completed successfully (failed or only waiting). */
  readonly longestGapMs: number;
  /** Calls that failed, by kind, from the event until the window's end. */
  readonly failed: Readonly<Record<OpKind, number>>;
  /** Calls made, by kind, in the same span. */
  readonly made: Readonly<Record<OpKind, number>>;
  /** The distinct error messages (first 160 characters), with counts. */
  readonly errors: readonly string[];
  /** From the event until Patroni reported the cluster healthy again (leader, streaming replica, HAProxy routing). */
  readonly healthyAfterMs: number;
}

const KINDS: readonly OpKind[] = ["issue", "login", "renew", "revoke"];
/** A gap between two successful issuances shorter than this is the churn's own pace, not an outage. */
export const CHURN_PACE_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A message worth counting: Vault's error list, or an exception's message, without per-call details. */
export function shortError(err: unknown): string {
  let text = err instanceof Error ? err.message : String(err);
  // env.issue and env.revoke throw "<path>: <status> <body>": keep the status and Vault's own errors.
  const m = /^[^:]+: (\d{3}) (\{.*\})$/s.exec(text);
  if (m) {
    try {
      text = `${m[1]} ${((JSON.parse(m[2]) as { errors?: string[] }).errors ?? []).join(" ")}`;
    } catch {
      // not JSON: keep the text.
    }
  }
  return text
    .replace(/v-[A-Za-z0-9_-]+/g, "v-…")
    .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:<port>")
    .replace(/\d+ errors? occurred:/g, "")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 240);
}

/** A credential the churn was handed, its role, and when the answer came (ms since the epoch). */
export interface Issued extends Creds {
  readonly role: string;
  readonly at: number;
}

/** How the churn runs. */
export interface ChurnOptions {
  /** Workers, each looping over the roles. @default 2 */
  readonly workers?: number;
  /** Pause between a worker's cycles. @default 100 */
  readonly pauseMs?: number;
  /** Every n-th credential of a worker is renewed to `expireTtl` and left to expire, not revoked. @default never */
  readonly expireEvery?: number;
  /** The short TTL of those. @default "15s" */
  readonly expireTtl?: string;
}

export class CredentialChurn {
  readonly ops: Op[] = [];
  /** Every credential issued, in the order the answers came. */
  readonly issued: Issued[] = [];
  /** Those left to expire (renewed to `expireTtl`, never revoked). */
  readonly expiring: Issued[] = [];
  /** Leases a failed revocation left: revoked again by {@link stop}. */
  private readonly unrevoked: string[] = [];
  private running = false;
  private workers: Promise<void>[] = [];

  constructor(
    private readonly env: LocalDeployment<PostgresEndpoint, VaultEndpoint>,
    private readonly roles: readonly string[],
    private readonly options: ChurnOptions = {},
  ) {}

  private async call<T>(kind: OpKind, fn: () => Promise<T>): Promise<T | undefined> {
    const start = Date.now();
    try {
      const value = await fn();
      this.ops.push({ kind, start, end: Date.now(), ok: true });
      return value;
    } catch (err) {
      this.ops.push({ kind, start, end: Date.now(), ok: false, error: shortError(err) });
      return undefined;
    }
  }

  private async worker(w: number): Promise<void> {
    const { env } = this;
    for (let i = 0; this.running; i++) {
      const role = this.roles[(w + i) % this.roles.length];
      const creds = await this.call("issue", () => env.issue(role));
      if (creds) {
        const issued = { ...creds, role, at: Date.now() };
        this.issued.push(issued);
        const expire = !!this.options.expireEvery && i % this.options.expireEvery === this.options.expireEvery - 1;
        await this.call("login", async () => {
          const res = await env.pg.tryLogin(env.databaseName, creds.username, creds.password);
          if (!res.ok) throw new Error(res.message);
        });
        const renewed = await this.call("renew", async () => {
          const increment = expire ? (this.options.expireTtl ?? "15s") : "10m";
          const res = await env.v("PUT", "sys/leases/renew", { lease_id: creds.leaseId, increment });
          if (res.status !== 200) throw new Error(`sys/leases/renew: ${res.status} ${JSON.stringify(res.body)}`);
          return true;
        });
        if (expire && renewed) {
          this.expiring.push(issued);
        } else {
          const revoked = await this.call("revoke", () => env.revoke(creds.leaseId).then(() => true));
          if (!revoked) this.unrevoked.push(creds.leaseId);
        }
      } else {
        await sleep(100); // Vault or PostgreSQL is down: an application backs off a little.
      }
      await sleep(this.options.pauseMs ?? 100);
    }
  }

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.options.workers ?? 2 }, (_, w) => this.worker(w));
  }

  /** Stops the workers, then revokes what a failed revocation left (retrying for up to `retryMs`); returns how many it revoked (those left to expire are not). */
  async stop(retryMs = 60_000): Promise<number> {
    this.running = false;
    await Promise.all(this.workers);
    const left = this.unrevoked.length;
    await waitFor(
      `the ${left} leases a failed revocation left to be revoked`,
      async () => {
        while (this.unrevoked.length > 0) {
          await this.env.revoke(this.unrevoked[0]); // throws while Vault or PostgreSQL cannot: waitFor tries again
          this.unrevoked.shift();
        }
        return true;
      },
      retryMs,
    );
    return left;
  }

  private count(ops: readonly Op[]): { made: Record<OpKind, number>; failed: Record<OpKind, number> } {
    const made = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<OpKind, number>;
    const failed = { ...made };
    for (const op of ops) {
      made[op.kind]++;
      if (!op.ok) failed[op.kind]++;
    }
    return { made, failed };
  }

  /**
   * What the churn saw from `at` (the event) until `until` (when the cluster was healthy again, plus a
   * margin for the calls under way): see {@link Recovery}.
   */
  recoveryAfter(event: string, at: number, healthyAt: number, until: number): Recovery {
    const window = this.ops.filter((op) => op.end >= at && op.start <= until);
    const issues = window.filter((op) => op.kind === "issue");
    const lastFailed = Math.max(at, ...issues.filter((op) => !op.ok).map((op) => op.end));
    const back = issues.filter((op) => op.ok && op.start >= lastFailed).sort((a, b) => a.end - b.end)[0];
    if (!back) throw new Error(`${event}: no issuance succeeded between the event and ${new Date(until).toISOString()}`);
    const successes = [
      at,
      ...issues
        .filter((op) => op.ok)
        .map((op) => op.end)
        .filter((t) => t >= at)
        .sort((a, b) => a - b),
    ];
    let longestGapMs = 0;
    let gapEnd = at;
    for (let i = 1; i < successes.length; i++) {
      if (successes[i] - successes[i - 1] > longestGapMs) [longestGapMs, gapEnd] = [successes[i] - successes[i - 1], successes[i]];
    }
    // with no failure and no gap longer than the churn's own pace, issuance never stopped: the longest of
    // those small gaps says nothing about a recovery.
    if (!issues.some((op) => !op.ok) && longestGapMs < CHURN_PACE_MS) gapEnd = at;
    const messages = new Map<string, number>();
    for (const op of window) if (op.error) messages.set(`${op.kind}: ${op.error}`, (messages.get(`${op.kind}: ${op.error}`) ?? 0) + 1);
    return {
      event,
      issuanceBackMs: Math.max(back.end, gapEnd) - at,
      longestGapMs,
      ...this.count(window),
      errors: [...messages].map(([m, n]) => `${n}× ${m}`),
      healthyAfterMs: healthyAt - at,
    };
  }
}

/** Issues one credential per role and waits until every node has its user (replicated), so that an event cannot lose it. */
export async function issueReplicated(env: LocalDeployment<PatroniCluster>, roles: readonly string[]): Promise<Creds[]> {
  const creds: Creds[] = [];
  for (const role of roles) creds.push(await env.issue(role));
  const names = creds.map((c) => c.username);
  for (const node of env.pg.nodeNames) {
    await waitFor(`${node} to have ${names.join(", ")}`, async () => {
      const [row] = await env.pg.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ANY($1)", [names], undefined, node);
      return row.n === names.length;
    });
  }
  return creds;
}

/**
 * Runs `event` (which returns what it did, e.g. `node1 → node2`) while credentials churn, after
 * issuing one replicated credential per role (`before`, for the caller to check after the event). Waits
 * until the cluster is healthy again and a few more seconds of churn, then says what the churn saw.
 */
export async function churnThrough(
  env: LocalDeployment<PatroniCluster>,
  roles: readonly string[],
  name: string,
  event: () => Promise<string>,
  options: { settleMs?: number; healthyWithinMs?: number } = {},
): Promise<{ recovery: Recovery; before: Creds[] }> {
  const settleMs = options.settleMs ?? 3000;
  const before = await issueReplicated(env, roles);
  const churn = new CredentialChurn(env, roles, { workers: 2, pauseMs: 100 });
  churn.start();
  try {
    await sleep(settleMs);
    const at = Date.now();
    const label = `${name} ${await event()}`;
    await env.pg.waitHealthy(options.healthyWithinMs ?? 120_000);
    const healthyAt = Date.now();
    await sleep(settleMs);
    return { recovery: churn.recoveryAfter(label, at, healthyAt, Date.now()), before };
  } finally {
    await churn.stop();
  }
}

/** One line: the event, when issuance was back, the longest gap, when the cluster was healthy, what failed. */
export function formatRecovery(r: Recovery): string {
  const failed = KINDS.filter((k) => r.failed[k] > 0)
    .map((k) => `${k} ${r.failed[k]}/${r.made[k]}`)
    .join(", ");
  return (
    `${r.event}: issuance back after ${(r.issuanceBackMs / 1000).toFixed(1)} s (longest gap ${(r.longestGapMs / 1000).toFixed(1)} s), ` +
    `cluster healthy after ${(r.healthyAfterMs / 1000).toFixed(1)} s; failed calls: ${failed || "none"}` +
    (r.errors.length ? `; ${r.errors.join("; ")}` : "")
  );
}
