/**
 * Which changes a reviewer must read closely. A one-line config edit can widen every application's
 * rights, lengthen every credential's life or recreate every role: each such change becomes a finding
 * with a reason in plain words.
 */
import type { AttributeChange, Finding, ResourceChange, StackDiff } from "./model";
import { issuedUserTable, withoutIssuedUserTable } from "../constructs/credential-functions";
import { SSL_MODES } from "../constructs/vocabulary";

/** Resource types whose every change is about who may do what. */
const PRIVILEGE_TYPES: Readonly<Record<string, string>> = {
  postgresql_grant: "privileges",
  postgresql_default_privileges: "default privileges",
  postgresql_grant_role: "role membership",
  vault_policy: "Vault policy",
  vault_kubernetes_auth_backend_role: "Kubernetes auth binding",
  vault_approle_auth_backend_role: "AppRole auth binding",
};

/** postgresql_role attributes that change what the role may do. */
const ROLE_POWERS = ["superuser", "create_role", "create_database", "replication", "bypass_row_level_security", "login", "roles", "inherit"];

const TTL_ATTRIBUTES = [
  "default_ttl",
  "max_ttl",
  "default_lease_ttl_seconds",
  "max_lease_ttl_seconds",
  "token_ttl",
  "token_max_ttl",
  "secret_id_ttl",
];

const STATEMENT_ATTRIBUTES: Readonly<Record<string, string>> = {
  creation_statements: "creation statements",
  revocation_statements: "revocation statements",
  renew_statements: "renew statements",
  rollback_statements: "rollback statements",
  root_rotation_statements: "root rotation statements",
};

/** The resource type that holds Vault's connection to PostgreSQL (a `postgresql` block of the mount). */
const CONNECTION_TYPE = "vault_database_secrets_mount";

/** The table of a credential function's SQL, read with the parser of the construct that writes it. */
const issuedUserRows = (body: unknown) => issuedUserTable(String(body ?? ""));

/** The function's SQL apart from its table of Vault roles. */
const rowless = (body: unknown) => withoutIssuedUserTable(String(body ?? ""));

/**
 * What a change of `create_user` widens: a Vault role that may create users, the roles they get, their
 * connection limit, how long they may live. The same table is in the other two functions: read it once.
 */
function credentialFunctionFindings(a: AttributeChange): string[] {
  const [before, after] = [issuedUserRows(a.before), issuedUserRows(a.after)];
  const reasons: string[] = [];
  for (const [role, now] of after) {
    const was = before.get(role);
    if (!was) {
      reasons.push(`Vault's admin may now create users for Vault role "${role}", in ${now.roles.join(", ")}`);
      continue;
    }
    const [wasRoles, nowRoles] = [was.roles.join(", "), now.roles.join(", ")];
    if (wasRoles !== nowRoles) reasons.push(`users of "${role}" get other roles: ${wasRoles} → ${nowRoles}`);
    if (now.connectionLimit > was.connectionLimit) {
      reasons.push(`connection limit of each "${role}" user raised: ${was.connectionLimit} → ${now.connectionLimit}`);
    }
    if (now.maxTtlSeconds > was.maxTtlSeconds) {
      reasons.push(`longest VALID UNTIL of "${role}" users raised: ${was.maxTtlSeconds}s → ${now.maxTtlSeconds}s`);
    }
  }
  return reasons;
}

/** Resource types that hold the applications' data. */
const DATA_TYPES: Readonly<Record<string, string>> = { postgresql_database: "database", postgresql_schema: "schema" };

function fmt(value: unknown): string {
  return value === undefined ? "unset" : JSON.stringify(value);
}

function sslmodeChange(before: unknown, after: unknown): string {
  // SSL_MODES runs from the weakest to the strongest.
  const strength = (mode: unknown) => (SSL_MODES as readonly string[]).indexOf(String(mode));
  const [b, a] = [strength(before), strength(after)];
  const how = b >= 0 && a >= 0 ? (a < b ? "weakened" : "strengthened") : "changed";
  return `sslmode ${how}: ${before ?? "unset"} → ${after ?? "unset"}`;
}

/** `+INSERT, -DELETE` for a privileges list that changed. */
function privilegeDelta(before: unknown, after: unknown, what = "privileges"): string {
  const b = Array.isArray(before) ? (before as string[]) : [];
  const a = Array.isArray(after) ? (after as string[]) : [];
  const plus = a.filter((p) => !b.includes(p)).map((p) => `+${p}`);
  const minus = b.filter((p) => !a.includes(p)).map((p) => `-${p}`);
  const how = plus.length && !minus.length ? "widened" : minus.length && !plus.length ? "narrowed" : "changed";
  return `${what} ${how}: ${[...plus, ...minus].join(", ")}`;
}

function sslmodeOf(url: unknown): string | undefined {
  return typeof url === "string" ? /[?&]sslmode=([^&]+)/.exec(url)?.[1] : undefined;
}

function attributeFindings(r: ResourceChange, a: AttributeChange): string[] {
  const key = a.path.slice(a.path.lastIndexOf(".") + 1);
  const reasons: string[] = [];
  if (r.type === "postgresql_role" && key === "roles") {
    // its memberships: say which were added or taken away, as for privileges.
    reasons.push(privilegeDelta(a.before, a.after, "role memberships"));
  } else if (r.type === "postgresql_role" && ROLE_POWERS.includes(key)) {
    reasons.push(`role attribute ${key}: ${fmt(a.before)} → ${fmt(a.after)}`);
  }
  if (TTL_ATTRIBUTES.includes(key) && typeof a.after === "number" && (typeof a.before !== "number" || a.after > a.before)) {
    reasons.push(`TTL raised: ${key} ${fmt(a.before)} → ${a.after}`);
  }
  if (key === "connection_url") {
    const [b, n] = [sslmodeOf(a.before), sslmodeOf(a.after)];
    reasons.push(b !== n ? `Vault's ${sslmodeChange(b, n)}` : "connection URL changed");
  }
  if (key === "privileges" && PRIVILEGE_TYPES[r.type]) reasons.push(privilegeDelta(a.before, a.after));
  if (key === "allowed_roles") reasons.push(`allowed_roles: ${fmt(a.before)} → ${fmt(a.after)}`);
  if (key === "username" && r.type === CONNECTION_TYPE) {
    reasons.push(`Vault connects as another user: ${fmt(a.before)} → ${fmt(a.after)}`);
  }
  if (key === "tls_ca" && r.type === CONNECTION_TYPE) {
    // a PEM is long: say what happened to it, not what it holds.
    const how = a.after === undefined ? "removed (Vault falls back to its system trust store)" : a.before === undefined ? "added" : "replaced";
    reasons.push(`the CA Vault trusts for PostgreSQL (tls_ca) ${how}`);
  }
  if (STATEMENT_ATTRIBUTES[key]) reasons.push(`${STATEMENT_ATTRIBUTES[key]} changed`);
  if (DATA_TYPES[r.type] && (a.path === "lifecycle" || a.path === "lifecycle.prevent_destroy")) {
    // the whole lifecycle block may go, or only its prevent_destroy.
    const pick = (v: unknown) => (a.path === "lifecycle" ? (v as { prevent_destroy?: unknown } | undefined)?.prevent_destroy : v);
    const [before, after] = [pick(a.before), pick(a.after)];
    if (before === true && after !== true) {
      reasons.push(
        `data protection lifted: Terraform may now drop this ${DATA_TYPES[r.type]} and everything in it (prevent_destroy ${fmt(before)} → ${fmt(after)})`,
      );
    }
  }
  if (r.type === "postgresql_function" && key === "body") {
    if (r.label === "create_user") reasons.push(...credentialFunctionFindings(a));
    if (rowless(a.before) !== rowless(a.after)) reasons.push(`the SQL Vault's admin runs through ${r.label} changed`);
  }
  if (r.type === "postgresql_schema" && key === "drop_cascade" && a.after === true) {
    reasons.push("a destroy would drop the schema CASCADE, with every table in it");
  }
  return reasons;
}

/** A grant that takes every privilege on a database from PUBLIC (`privileges: []`). */
function isPublicDatabaseRevoke(r: ResourceChange): boolean {
  const before = (path: string) => r.attributes.find((a) => a.path === path)?.before;
  const privileges = before("privileges");
  return before("role") === "public" && before("object_type") === "database" && Array.isArray(privileges) && privileges.length === 0;
}

/** The findings of one resource change. */
export function resourceFindings(stack: string, r: ResourceChange): Finding[] {
  const reasons: string[] = [];
  if (r.kind === "removed") reasons.push("would be destroyed");
  if (r.kind === "removed" && r.type === "postgresql_grant" && isPublicDatabaseRevoke(r)) {
    reasons.push(
      `this stack no longer keeps PUBLIC out of database ${r.attributes.find((a) => a.path === "database")?.before ?? "?"}: ` +
        "issued users of a new cluster could log in there (an existing one stays closed: a destroy does not grant back)",
    );
  }
  if (r.kind === "removed" && r.type === "postgresql_grant_role" && r.label.startsWith("pg_use_reserved_connections ")) {
    reasons.push("Vault's admin loses its reserved connections: issued users filling every slot would keep it out");
  }
  if (r.kind === "replaced") {
    if (r.renamedFrom) {
      reasons.push(
        `would be destroyed and recreated because ${r.replaceReason}; keep the old construct ID, ` +
          `or tell Terraform it moved: in the stack, \`movedFrom(resource, <its old construct path>)\` (stacks/moved.ts) writes a \`moved\` block from ${r.renamedFrom.address}`,
      );
    } else {
      reasons.push(`would be destroyed and recreated: ${r.replaceReason ?? "the provider recreates it"}`);
    }
  }
  if (PRIVILEGE_TYPES[r.type] && r.kind === "added") {
    const privileges = r.attributes.find((a) => a.path === "privileges")?.after;
    // a grant of no privileges takes every one away (PUBLIC's EXECUTE on new functions, say): it narrows.
    reasons.push(
      Array.isArray(privileges) && privileges.length === 0
        ? `${PRIVILEGE_TYPES[r.type]} revoked: ${r.label} keeps none`
        : `${PRIVILEGE_TYPES[r.type]} added: ${r.label}`,
    );
  }
  if (PRIVILEGE_TYPES[r.type] && r.kind === "changed") {
    const others = r.attributes.map((a) => a.path).filter((p) => p !== "privileges");
    if (others.length) reasons.push(`${PRIVILEGE_TYPES[r.type]} changed: ${others.join(", ")}`);
  }
  if (r.kind === "added") {
    if (r.type === "postgresql_role") {
      const powers = r.attributes.filter((a) => ROLE_POWERS.includes(a.path) && a.after === true).map((a) => a.path);
      if (powers.length) reasons.push(`new role "${r.label}" with ${powers.join(", ")}`);
    }
    if (r.type === "vault_database_secret_backend_role") reasons.push(`new Vault role "${r.label}" issues credentials`);
  }
  if (r.kind === "changed" || (r.kind === "replaced" && !r.renamedFrom)) {
    for (const a of r.attributes) reasons.push(...attributeFindings(r, a));
  }
  return [...new Set(reasons)].map((reason) => ({ stack, resource: r, reason }));
}

/** Findings for stack-level settings: where the state lives, how providers connect. */
function settingFindings(stack: string, settings: readonly AttributeChange[]): Finding[] {
  const findings: Finding[] = [];
  for (const s of settings) {
    if (s.path.startsWith("backend")) findings.push({ stack, reason: `state backend changed (${s.path}): ${fmt(s.before)} → ${fmt(s.after)}` });
    if (/^provider\.[^.]+\.sslmode$/.test(s.path)) {
      findings.push({ stack, reason: `Terraform's ${s.path.split(".")[1]} provider: ${sslmodeChange(s.before, s.after)}` });
    } else if (/^provider\.[^.]+\.(address|host|port|sslrootcert)$/.test(s.path) || /^provider\.[^.]+$/.test(s.path)) {
      findings.push({ stack, reason: `Terraform connects elsewhere (${s.path}): ${fmt(s.before)} → ${fmt(s.after)}` });
    }
  }
  return findings;
}

/** A raised lease budget: more credentials at once before the lease audit reports the application. */
function budgetFindings(s: StackDiff): Finding[] {
  return s.leaseBudgets
    .filter((b) => b.before !== undefined && b.after !== undefined && b.after > b.before)
    .map((b) => ({
      stack: s.stack,
      reason: `lease budget of ${b.application} raised: ${b.before} → ${b.after} (more credentials at once before the lease audit reports a crash loop)`,
    }));
}

/** Every finding of every stack, in report order; one per resource, its reasons joined. */
export function findRisks(stacks: readonly StackDiff[]): Finding[] {
  return stacks.flatMap((s) => [
    ...(s.status === "deleted" ? [{ stack: s.stack, reason: "the whole environment's stack is gone: everything in it would be destroyed" }] : []),
    ...settingFindings(s.stack, s.settings),
    ...budgetFindings(s),
    ...s.resources.flatMap((r) => {
      const reasons = resourceFindings(s.stack, r).map((f) => f.reason);
      return reasons.length ? [{ stack: s.stack, resource: r, reason: reasons.join("; ") }] : [];
    }),
  ]);
}
