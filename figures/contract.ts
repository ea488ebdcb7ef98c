/**
 * The figures contract: what each reliability suite records in `test-results/figures/<suite>.json`, one type
 * per suite (or per part, for a suite that records in parts). The suites write through
 * test/e2e/fixture/figures.ts, typed by {@link SuiteFigures}; `npm run figures` reads through
 * {@link parseFiguresFile}, which checks each file against the same schemas, so that a field a suite stops
 * writing fails the typecheck of the suite, and a file an older suite wrote is reported field by field
 * instead of being read as `any`.
 *
 * The numbers are what the suites measured; their meaning is documented where docs/reliability.md uses them
 * (figures/reliability.ts).
 */
import { z } from "zod";

const n = z.number();
/** Calls by kind (`issue`, `login`, `renew`, `revoke`), as harness/failover.ts counts them. */
const byKind = z.record(z.string(), n);
/** "PostgreSQL 17.4", from `version()`. */
const postgres = z.string();
/** The Vault-API server's label, e.g. "OpenBao 2.6.2". */
const server = z.string();

// ------------------------------------------------------------------------------------------------ whole suites

const churn = z.object({
  postgres,
  server,
  cycles: n,
  concurrency: n,
  seconds: n,
  cyclesPerSecond: n,
  cycleP50Ms: n,
  cycleP99Ms: n,
  /** Users that held an open session when revoked, and the sessions the revocation ended. */
  sessions: n,
  sessionsEndedByRevocation: n,
  failedCycles: n,
  rolesLeft: n,
  leasesLeft: n,
  irrevocable: n,
  tablesCreated: n,
  tablesOwnedByBaseRoles: n,
  strayObjects: n,
});
/** test/e2e/churn.test.ts: issue-then-revoke cycles and what they left. */
export interface ChurnFigures extends z.output<typeof churn> {}

const stateLock = z.object({
  postgres,
  server,
  stateRows: n,
  resourcesInState: n,
  serial: n,
  stateBytes: n,
});
/** test/e2e/state-lock.test.ts: the `pg` backend's state after two engineers applied. */
export interface StateLockFigures extends z.output<typeof stateLock> {}

const wiringPair = z.object({
  postgres,
  server,
  resourcesAdded: n,
  resourcesDestroyed: n,
  /** From starting the servers to the end of the destroy. */
  seconds: n,
});
/** test/e2e/wiring.test.ts: one server and PostgreSQL pair's deploy and destroy. */
export interface WiringPairFigures extends z.output<typeof wiringPair> {}

const wiring = z.object({
  /** By pair label, e.g. `openbao pg15`: the pairs done so far. */
  pairs: z.record(z.string(), wiringPair),
});
/** test/e2e/wiring.test.ts: every pair done so far. */
export interface WiringFigures extends z.output<typeof wiring> {}

const haRecovery = z.object({
  /** e.g. `switchover node1 → node2`, `crash of node2`. */
  event: z.string(),
  issuanceBackSeconds: n,
  longestGapSeconds: n,
  healthySeconds: n,
  failed: byKind,
  made: byKind,
});
const ha = z.object({
  server,
  replication: z.enum(["async", "sync"]),
  /** Users the crashed leader created that no lease holds. */
  orphanUsers: n,
  nodes: n,
  /** Failed logins in the nodes' logs after each event (cumulative), by application and reason. */
  failedLogins: z.array(z.object({ event: z.string(), application: z.string(), reason: z.string(), count: n })),
  /** A switchover, then a crash of the leader. */
  recoveries: z.array(haRecovery),
});
/** test/e2e/ha.test.ts, one replication mode: how the churn recovered from each event. */
export interface HaFigures extends z.output<typeof ha> {}

const raftOutcome = z.object({ outcome: z.string(), seconds: n });
const raftEvent = z.object({
  /** e.g. `kill of the active node node2`. */
  event: z.string(),
  issuanceBackSeconds: n,
  longestGapSeconds: n,
  healthySeconds: n,
  failed: byKind,
  made: byKind,
  errors: z.array(z.string()).readonly(),
  /** Before a kill: leases answered in its last second, and how many of them the cluster holds afterwards. */
  lastSecond: z.object({ answered: n, known: n }).optional(),
  orphanUsers: n,
});
const raft = z.object({
  server,
  nodes: n,
  performanceMultiplier: n,
  shortLeases: n,
  shortLeasesDroppedWithinSeconds: n,
  leasesNoClientGot: n,
  /** A `tofu apply` started as the active node died, and a `cdktf deploy` right after: absent when that step did not run. */
  deployDuringOutage: z.object({ applyAtKill: raftOutcome, cdktfDeploy: raftOutcome }).optional(),
  /** A step-down, a kill of the active node, a kill of a standby. */
  events: z.array(raftEvent),
});
/** test/e2e/raft-bao.test.ts and raft-vault.test.ts (fixture/raft-suite.ts): the cluster losing nodes during a churn. */
export interface RaftFigures extends z.output<typeof raft> {}

// ------------------------------------------------------------------------------------------------ suites in parts

const restart = z.object({
  server,
  outstanding: n,
  ttlSeconds: n,
  concurrency: n,
  downSeconds: n,
  cycles: n,
  cyclesDuringAndAfter: n,
  retried: n,
  leasesCut: n,
  orphanUsers: n,
  waitedForExpirySeconds: n,
  outstandingRevokedSecondsAfterWait: n,
});
/** test/e2e/outages.test.ts 1: the server restarted mid-churn. */
export interface RestartFigures extends z.output<typeof restart> {}

const postgresDown = z.object({
  postgres,
  leases: n,
  ttlSeconds: n,
  downSeconds: n,
  pending: n,
  irrevocable: n,
  droppedSecondsAfterReturn: n,
});
/** test/e2e/outages.test.ts 2: PostgreSQL down while leases expire. */
export interface PostgresDownFigures extends z.output<typeof postgresDown> {}

const deployVaultDown = z.object({ exitCode: n, planAfterwards: n, planInTheEnd: n });
/** test/e2e/outages.test.ts 3a: exit codes of a deploy with the server down, and of the plans after it. */
export interface DeployVaultDownFigures extends z.output<typeof deployVaultDown> {}

const deployPostgresDown = z.object({ exitCode: n, planWhileDown: n, planAfterwards: n, planInTheEnd: n });
/** test/e2e/outages.test.ts 3b: exit codes of a deploy with PostgreSQL down, and of the plans during and after it. */
export interface DeployPostgresDownFigures extends z.output<typeof deployPostgresDown> {}

/** test/e2e/outages.test.ts, by part. */
export interface OutagesParts {
  restart: RestartFigures;
  postgresDown: PostgresDownFigures;
  deployVaultDown: DeployVaultDownFigures;
  deployPostgresDown: DeployPostgresDownFigures;
}

const healthyAudits = z.object({
  server,
  postgres,
  churnCycles: n,
  /** Each audit during the churn: its findings and its own duration. */
  audits: z.array(z.object({ findings: n, seconds: n })),
});
/** test/e2e/leases.test.ts 1: audits during a churn. */
export interface HealthyAuditFigures extends z.output<typeof healthyAudits> {}

const auditFaults = z.object({
  server,
  made: n,
  reported: n,
  fixActions: n,
  leftToAPerson: n,
  applied: n,
  findingsAfterwards: n,
});
/** test/e2e/leases.test.ts 2: faults made for real, and what the audit and its fix did with them. */
export interface AuditFaultFigures extends z.output<typeof auditFaults> {}

/** test/e2e/leases.test.ts, by part: each server's healthy audits and faults. */
export interface LeasesParts {
  "healthy-bao": HealthyAuditFigures;
  "faults-bao": AuditFaultFigures;
  "healthy-vault": HealthyAuditFigures;
  "faults-vault": AuditFaultFigures;
}

const irrevocable = z.object({
  server,
  postgres,
  gaveUpAfterSeconds: n,
  /** The server's last revocation error, as it lists the irrevocable lease. */
  lastError: z.string(),
});
/** test/e2e/irrevocable.test.ts, one server: when it gave up revoking. */
export interface IrrevocableFigures extends z.output<typeof irrevocable> {}

/** test/e2e/irrevocable.test.ts, by server. */
export interface IrrevocableParts {
  bao: IrrevocableFigures;
  vault: IrrevocableFigures;
}

const kubernetes = z.object({
  server,
  deletedPodTokenAcceptedForS: n,
  queries: n,
  failed: n,
  longestGapMs: n,
  users: n,
});
/** test/e2e/kubernetes.test.ts, one server: the rotating application's queries on injected credentials. */
export interface KubernetesFigures extends z.output<typeof kubernetes> {}

/** test/e2e/kubernetes.test.ts, by server label. */
export interface KubernetesParts {
  OpenBao: KubernetesFigures;
  "HashiCorp Vault": KubernetesFigures;
}

const alertLatency = z.object({
  /** What was done, e.g. "an application keeps using revoked credentials". */
  condition: z.string(),
  alert: z.string(),
  application: z.string(),
  /** From the first failure (or the audit's report) to the webhook's notification. */
  seconds: n,
});
const monitoring = z.object({
  postgres,
  server,
  /** Notifications the quiet period produced (rotation, renewals, audits, a restart): the rules' false alarms. */
  quietNotifications: n,
  quietSeconds: n,
  /** What the quiet period did, and the failed logins the log showed for it, by reason. */
  quietIssued: n,
  quietRenewed: n,
  quietRevoked: n,
  quietLoginsRefusedByRestart: n,
  quietFailedLoginsByReason: z.record(z.string(), n),
  /** Each driven condition and how long until its notification. */
  alerts: z.array(alertLatency),
  /** Firing alerts besides the expected ones (false alarms while the conditions ran). */
  unexpectedAlerts: n,
});
/** test/e2e/monitoring.test.ts, one run per PostgreSQL major: PostgreSQL's log and the lease audit into a real Prometheus and Alertmanager. */
export interface MonitoringFigures extends z.output<typeof monitoring> {}

const crashLoop = z.object({
  server,
  postgres,
  /** n8n's lease budget (the default for one replica). */
  budget: n,
  loopSeconds: n,
  /** Agent starts, each killed with SIGKILL once it had rendered a credential. */
  starts: n,
  /** Leases taken a minute (one per start); what is held levels off at this rate times the TTL. */
  leasesPerMinute: n,
  leasesAtStop: n,
  peakLeases: n,
  peakUsers: n,
  /** From the loop's start to the first moment its leases were over the budget. */
  overBudgetAfterSeconds: n,
  /** From the loop's end until every lease it left had ended and every user was dropped. */
  drainedAfterSeconds: n,
  defaultTtlSeconds: n,
  /** keybuzz-api's issuance (issue, then revoke) on the quiet server, and during the loop. */
  otherIssuesBefore: n,
  otherIssuesDuring: n,
  otherIssueP50MsBefore: n,
  otherIssueP99MsBefore: n,
  otherIssueP50MsDuring: n,
  otherIssueP99MsDuring: n,
  irrevocable: n,
  usersLeft: n,
});
/** test/e2e/crash-loop.test.ts: an agent killed after each start, and what its leases did. */
export interface CrashLoopFigures extends z.output<typeof crashLoop> {}

// ------------------------------------------------------------------------------------------------ the suites

/** The suites that record their figures whole (`recordFigures`), by file name. */
export interface WholeSuites {
  churn: ChurnFigures;
  "state-lock": StateLockFigures;
  wiring: WiringFigures;
  "ha-async": HaFigures;
  "ha-sync": HaFigures;
  "raft-bao": RaftFigures;
  "raft-vault": RaftFigures;
  "monitoring-pg15": MonitoringFigures;
  "monitoring-pg17": MonitoringFigures;
  "crash-loop": CrashLoopFigures;
}

/** The suites that record their figures in parts (`figureParts`), by file name, then part. */
export interface PartedSuites {
  outages: OutagesParts;
  leases: LeasesParts;
  irrevocable: IrrevocableParts;
  kubernetes: KubernetesParts;
}

/** A suite that records its figures whole. */
export type WholeSuite = keyof WholeSuites;
/** A suite that records its figures in parts. */
export type PartedSuite = keyof PartedSuites;
/** A file name under test-results/figures/ (without `.json`). */
export type SuiteName = WholeSuite | PartedSuite;

/** What `figures` holds in `<suite>.json`: a whole suite's figures, or the parts of a suite recorded so far. */
export type SuiteFigures<S extends SuiteName> = S extends WholeSuite ? WholeSuites[S] : S extends PartedSuite ? Partial<PartedSuites[S]> : never;

const WHOLE: { readonly [S in WholeSuite]: z.ZodType<WholeSuites[S]> } = {
  churn,
  "state-lock": stateLock,
  wiring,
  "ha-async": ha,
  "ha-sync": ha,
  "raft-bao": raft,
  "raft-vault": raft,
  "monitoring-pg15": monitoring,
  "monitoring-pg17": monitoring,
  "crash-loop": crashLoop,
};

const PARTS: { readonly [S in PartedSuite]: { readonly [P in keyof PartedSuites[S]]: z.ZodType<PartedSuites[S][P]> } } = {
  outages: { restart, postgresDown, deployVaultDown, deployPostgresDown },
  leases: { "healthy-bao": healthyAudits, "faults-bao": auditFaults, "healthy-vault": healthyAudits, "faults-vault": auditFaults },
  irrevocable: { bao: irrevocable, vault: irrevocable },
  kubernetes: { OpenBao: kubernetes, "HashiCorp Vault": kubernetes },
};

/** Every suite the contract knows, whole ones first. */
export const SUITES: readonly SuiteName[] = [...(Object.keys(WHOLE) as WholeSuite[]), ...(Object.keys(PARTS) as PartedSuite[])];

// ------------------------------------------------------------------------------------------------ the files

const recorded = z.object({
  /** When the suite wrote the file (ISO 8601): after its assertions passed. */
  recordedAt: z.iso.datetime(),
  /** `process.version`. */
  node: z.string(),
  /** `<os> <release> <arch>`. */
  platform: z.string(),
  cpus: n,
  cpuModel: z.string().optional(),
  memoryGiB: n.optional(),
});
/** When and on what machine a suite recorded its figures. */
export interface Recorded extends z.output<typeof recorded> {}

/** `test-results/figures/<suite>.json` as a suite writes it. */
export interface FiguresFile<S extends SuiteName = SuiteName> extends Recorded {
  suite: S;
  figures: SuiteFigures<S>;
}

/** A figure a reader asks for: a whole suite's (`churn`) or one part of a suite's (`outages/restart`). */
export type FigureKey = WholeSuite | { [S in PartedSuite]: `${S}/${keyof PartedSuites[S] & string}` }[PartedSuite];

/** The type of the figure {@link FigureKey} `K` names. */
export type FigureOf<K extends FigureKey> = K extends WholeSuite
  ? WholeSuites[K]
  : K extends `${infer S extends PartedSuite}/${infer P}`
    ? P extends keyof PartedSuites[S]
      ? PartedSuites[S][P]
      : never
    : never;

/** Figures by {@link FigureKey}, each checked against its schema; absent: not recorded, or not as the contract says. */
export type Figures = { readonly [K in FigureKey]?: FigureOf<K> };

/** A figures file as `npm run figures` reads it: when and where it was recorded, and its figures that match the contract. */
export interface SuiteRecord extends Recorded {
  /** The suite's name (the file's, when the file does not say). */
  readonly suite: string;
  readonly figures: Figures;
}

/** `figures.pairs["openbao pg15"].seconds`: indexes in brackets, keys that are not identifiers quoted. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, p) => {
    if (typeof p === "number") return `${out}[${p}]`;
    const key = String(p);
    return /^[A-Za-z_$][\w$]*$/.test(key) ? `${out}${out ? "." : ""}${key}` : `${out}[${JSON.stringify(key)}]`;
  }, "");
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur = data;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/** `file: field: message (got value)`, one line per issue, fields as paths from the file's root. */
function problemsOf(file: string, data: unknown, prefix: readonly PropertyKey[], error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...issue.path];
    const value = valueAt(data, path);
    const message = issue.code === "invalid_type" && value === undefined ? `missing, expected ${issue.expected}` : issue.message;
    return `${file}: ${formatPath(path)}: ${message} (got ${describeValue(value)})`;
  });
}

/**
 * Reads one figures file's parsed JSON into the typed shape. A whole suite's figures, or a part's, that do not
 * match the contract are left out, each mismatch a problem naming the file and the field; a file whose
 * envelope (when, where) does not match is left out whole.
 *
 * @param file the file, as problems name it
 * @param data the file's parsed JSON
 * @param fallbackSuite the suite when the file does not say (its name without `.json`)
 */
export function parseFiguresFile(file: string, data: unknown, fallbackSuite: string): { record?: SuiteRecord; problems: string[] } {
  const envelope = recorded.extend({ suite: z.string().optional(), figures: z.unknown() }).safeParse(data);
  if (!envelope.success) return { problems: problemsOf(file, data, [], envelope.error) };
  const { suite = fallbackSuite, figures: raw, ...when } = envelope.data;
  const problems: string[] = [];
  const figures: Record<string, unknown> = {};
  if (suite in WHOLE) {
    const parsed = WHOLE[suite as WholeSuite].safeParse(raw);
    if (parsed.success) figures[suite] = parsed.data;
    else problems.push(...problemsOf(file, data, ["figures"], parsed.error));
  } else if (suite in PARTS) {
    const schemas = PARTS[suite as PartedSuite] as Readonly<Record<string, z.ZodType>>;
    const parts = z.record(z.string(), z.unknown()).safeParse(raw);
    if (!parts.success) problems.push(...problemsOf(file, data, ["figures"], parts.error));
    for (const [part, value] of Object.entries(parts.data ?? {})) {
      const schema = schemas[part];
      if (!schema) {
        problems.push(`${file}: ${formatPath(["figures", part])}: not a part of ${suite} (expected ${Object.keys(schemas).join(", ")})`);
        continue;
      }
      const parsed = schema.safeParse(value);
      if (parsed.success) figures[`${suite}/${part}`] = parsed.data;
      else problems.push(...problemsOf(file, data, ["figures", part], parsed.error));
    }
  } else {
    problems.push(`${file}: suite: "${suite}" is not a suite of the figures contract (figures/contract.ts: ${SUITES.join(", ")})`);
  }
  return { record: { ...when, suite, figures: figures as Figures }, problems };
}
