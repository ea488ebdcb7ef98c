/**
 * The stack's mtail program, run by Debian's mtail (`tools/build.sh mtail`, cached) on PostgreSQL 15 jsonlog lines
 * as PostgreSQL wrote them for each kind of failed login (captured from a real server; the monitoring suite
 * makes each for real): every line lands on its application and reason, and the lines that are no failed login
 * count nothing. Needs apt (CI has it): without it this test fails, it does not skip.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { postgresLogProgram } from "../../constructs/postgres-log-metrics";

const ROOT = join(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "keybuzz-mtail-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const API = "v-token-keybuzz--AbCdEfGhIjKlMnOpQrSt-1796650000";
const CHATWOOT = "v-approle-chatwoot-AbCdEfGhIjKlMnOpQrSt-1796650000";
const line = (user: string, severity: string, code: string | undefined, message: string, detail?: string) =>
  JSON.stringify({
    timestamp: "2026-12-07 13:31:21.129 UTC",
    user,
    dbname: "keybuzz",
    pid: 9941,
    remote_host: "127.0.0.1",
    remote_port: 60928,
    session_id: "6b16b529.26d5",
    line_num: 2,
    ps: "authentication",
    session_start: "2026-12-07 13:31:21 UTC",
    vxid: "3/3",
    txid: 0,
    error_severity: severity,
    ...(code ? { state_code: code } : {}),
    message,
    ...(detail ? { detail } : {}),
    backend_type: "client backend",
    query_id: 0,
  });
const HBA = 'Connection matched pg_hba.conf line 91: "host all all 127.0.0.1/32 scram-sha-256"';

const LOG = [
  line(API, "FATAL", "28P01", `password authentication failed for user "${API}"`, `Role "${API}" does not exist.\n${HBA}`),
  line(API, "FATAL", "28P01", `password authentication failed for user "${API}"`, `User "${API}" has an expired password.\n${HBA}`),
  line(CHATWOOT, "FATAL", "28P01", `password authentication failed for user "${CHATWOOT}"`, HBA),
  line(CHATWOOT, "FATAL", "28000", `role "${CHATWOOT}" is not permitted to log in`),
  line(CHATWOOT, "FATAL", "28000", `no pg_hba.conf entry for host "10.1.2.3", user "${CHATWOOT}", database "keybuzz", no encryption`),
  line(CHATWOOT, "FATAL", "53300", `too many connections for role "${CHATWOOT}"`),
  line(CHATWOOT, "FATAL", "53300", "sorry, too many clients already"),
  line(CHATWOOT, "FATAL", "57P03", "the database system is shutting down"),
  line("vault_admin", "FATAL", "28P01", 'password authentication failed for user "vault_admin"', HBA),
  line('mallory"evil', "FATAL", "28P01", 'password authentication failed for user "mallory\\"evil"', `Role "mallory\\"evil" does not exist.`),
  // not failed logins: a session ended by a revocation, an error in a statement, a login authorized.
  line(API, "FATAL", "57P01", "terminating connection due to administrator command"),
  line(API, "ERROR", "42501", "permission denied for table secrets"),
  line(API, "LOG", undefined, `connection authorized: user=${API} database=keybuzz application_name=psql`),
  line("vault_admin", "LOG", undefined, "connection authorized: user=vault_admin database=keybuzz"),
].join("\n");

function mtail(program: string, log: string): string {
  const build = spawnSync("bash", [join(ROOT, "tools", "build.sh"), "mtail"], { encoding: "utf8", timeout: 240_000 });
  if (build.status !== 0) throw new Error(`tools/build.sh mtail failed (status ${build.status}):\n${build.stderr}`);
  const bin = (JSON.parse(build.stdout) as { mtail: string }).mtail;
  writeFileSync(join(work, "postgresql-log.mtail"), program);
  writeFileSync(join(work, "postgresql.json"), `${log}\n`);
  const res = spawnSync(
    bin,
    [
      "--one_shot",
      "--one_shot_format",
      "prometheus",
      "--emit_prog_label=false",
      "--progs",
      join(work, "postgresql-log.mtail"),
      "--logs",
      join(work, "postgresql.json"),
    ],
    { encoding: "utf8" },
  );
  if (res.status !== 0) throw new Error(`mtail exited ${res.status}:\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

describe("the stack's mtail program, in mtail, on PostgreSQL's jsonlog", () => {
  it("counts each failed login under its application and reason, and each authorized login", () => {
    const program = postgresLogProgram({
      applications: [
        { name: "keybuzz-api", vaultRole: "keybuzz-api-db" },
        { name: "chatwoot", vaultRole: "chatwoot-db" },
      ],
      adminUsername: "vault_admin",
      metricPrefix: "kb",
    });
    const series = mtail(program, LOG)
      .split("\n")
      .filter((l) => l.startsWith("kb_") && !l.includes("_timestamp_"))
      .sort();
    expect(series).toEqual(
      [
        'kb_postgres_login_failures_total{application="keybuzz-api",reason="role_missing"} 1',
        'kb_postgres_login_failures_total{application="keybuzz-api",reason="password_expired"} 1',
        'kb_postgres_login_failures_total{application="chatwoot",reason="wrong_password"} 1',
        'kb_postgres_login_failures_total{application="chatwoot",reason="login_not_permitted"} 1',
        'kb_postgres_login_failures_total{application="chatwoot",reason="no_hba_entry"} 1',
        'kb_postgres_login_failures_total{application="chatwoot",reason="role_connection_limit"} 1',
        'kb_postgres_login_failures_total{application="chatwoot",reason="server_connection_limit"} 1',
        'kb_postgres_login_failures_total{application="chatwoot",reason="server_unavailable"} 1',
        'kb_postgres_login_failures_total{application="vault_admin",reason="wrong_password"} 1',
        'kb_postgres_login_failures_total{application="unknown",reason="role_missing"} 1',
        'kb_postgres_logins_total{application="keybuzz-api"} 1',
        'kb_postgres_logins_total{application="vault_admin"} 1',
      ].sort(),
    );
  });
});
