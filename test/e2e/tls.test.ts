/**
 * The "tls" suite: the `local` stack with `sslmode` verify-full and `postgres.caCertFile`, against a
 * PostgreSQL server that accepts TCP logins over TLS only, with a certificate from a throwaway CA
 * (openssl, in a temp folder), and HashiCorp Vault; everything on 127.0.0.1, deployed by OpenTofu with both
 * real providers.
 *
 * It proves both halves verify the server against that CA: the postgresql provider connects with the
 * synthesized sslmode and sslrootcert (found from the stack's folder); Vault gets the CA as tls_ca, issues
 * credentials over TLS, and the application logs in with verify-full. Then the server presents a
 * certificate for another host name, signed by the same CA, and every one of those connections fails,
 * saying so, and nothing is issued.
 *
 * The steps depend on one another and run in order; afterAll stops both servers and removes every temp
 * folder (the CA's keys included), also when a step fails.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "pg";
import { LocalDeployment } from "../../harness/deployment";
import type { VaultResponse } from "../../harness/vault";
import type { TfJson } from "../../harness/stack";
import { ThrowawayCa, type ServerCertificate } from "../../harness/ca";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);

const step = (msg: string) => process.stderr.write(`[e2e tls] ${msg}\n`);

/** The host name in the wrong certificate: a name that is never 127.0.0.1 (`.invalid` is reserved). */
const WRONG_HOST = "wrong-host.invalid";
/** What Go (Vault, and the postgresql provider) says when the certificate for an address names host names only. */
const GO_WRONG_HOST = "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs";

describe.skipIf(!toolchain)("tls: verify-full with a named CA, against real PostgreSQL and Vault servers", () => {
  let ca: ThrowawayCa | undefined;
  let good: ServerCertificate;
  let wrong: ServerCertificate;
  let env: LocalDeployment;
  /** The connection block as synthesized. */
  let connection: TfJson;
  /** The connection's config as Vault reads it back after the first apply. */
  let applied: Record<string, unknown>;
  const clients: Client[] = [];
  let poolLifetime = "5m";

  const v = (method: string, path: string, body?: unknown): Promise<VaultResponse> => env.v(method, path, body);
  /** Vault's error text, for assertions and failure messages. */
  const errors = (res: VaultResponse) => JSON.stringify(res.body.errors ?? res.body);

  /** A client of the application database as `user`, checking the server with verify-full against the CA only. */
  function verifyFull(user: string, password: string): Client {
    const c = new Client({ ...env.pg.config("keybuzz", user, password), ssl: { ca: ca!.cert, rejectUnauthorized: true } });
    c.on("error", () => undefined);
    clients.push(c);
    return c;
  }

  /** Each client backend's user and TLS state, from pg_stat_activity joined with pg_stat_ssl. */
  const sessions = () =>
    env.pg.query<{ pid: number; usename: string; ssl: boolean; version: string | null }>(
      `SELECT a.pid, a.usename, s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
       WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() ORDER BY a.usename`,
    );

  beforeAll(async () => {
    step("making a throwaway CA and two server certificates with openssl");
    ca = await ThrowawayCa.create();
    good = await ca.issue("server", { ips: ["127.0.0.1"], dns: ["localhost"] });
    wrong = await ca.issue("wrong-host", { dns: [WRONG_HOST] });
    step("starting PostgreSQL (TLS only, certificate for 127.0.0.1 and localhost) and Vault on 127.0.0.1");
    env = await LocalDeployment.start({
      server: toolchain!.postgres[0],
      vaultBinary: toolchain!.vault,
      tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
      postgres: { ssl: good },
      patchConfig: (c) => {
        Object.assign(c.postgres, { sslmode: "verify-full", caCertFile: "keybuzz-ca.pem" });
        // where application hosts would keep the CA: n8n's agent file needs one to use TLS at all.
        c.agent = { postgresCaCertPath: "/etc/ssl/keybuzz/postgres-ca.pem" };
        c.connection = { maxConnectionLifetime: poolLifetime };
      },
      log: "[e2e tls]",
    });
    // the CA's certificate beside the environment file, as an operator puts it.
    mkdirSync(join(env.dir, "config"), { recursive: true });
    copyFileSync(ca.certFile, join(env.dir, "config", "keybuzz-ca.pem"));
  });

  afterAll(async () => {
    step("cleaning up: closing sessions, stopping servers, removing temp folders and keys");
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await env?.stop();
    ca?.remove();
  });

  it("a. the server refuses plain TCP and presents the certificate for 127.0.0.1", async () => {
    step("a. a plain TCP login is refused; the served certificate names IP 127.0.0.1");
    const plain = new Client({ ...env.pg.config(), ssl: false });
    plain.on("error", () => undefined);
    await expect(plain.connect()).rejects.toThrow(/no pg_hba\.conf entry .* no encryption/);
    await plain.end().catch(() => undefined);
    expect((await env.pg.servedCertificate()).subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost");
  });

  it("b. synthesizes the local stack with sslmode verify-full and caCertFile", async () => {
    step("b. synthesizing keybuzz-local with postgres.caCertFile = keybuzz-ca.pem (beside the config)");
    const tf = await env.synth();
    expect(tf.provider.postgresql[0]).toMatchObject({ sslmode: "verify-full", sslrootcert: "../../../config/keybuzz-ca.pem" });
    connection = (Object.values(tf.resource.vault_database_secrets_mount)[0] as TfJson).postgresql[0];
    expect(connection.tls_ca).toBe(ca!.cert);
    expect(connection.connection_url).toBe(`postgresql://{{username}}:{{password}}@127.0.0.1:${env.pg.port}/keybuzz?sslmode=verify-full`);
  });

  it("c. tofu apply: the postgresql provider (verify-full, sslrootcert) and Vault (tls_ca) both connect over TLS; then a clean plan", async () => {
    step("c. tofu init + apply in the stack's folder");
    await env.terraformOk(["init", "-input=false"]);
    const apply = await env.terraform(["apply", "-auto-approve", "-input=false"]);
    expect(apply.code, apply.output).toBe(0);
    const [admin] = await env.pg.query<{ rolcreaterole: boolean }>("SELECT rolcreaterole FROM pg_roles WHERE rolname = 'vault_admin'");
    expect(admin).toEqual({ rolcreaterole: false });
    const config = await v("GET", "database/config/keybuzz-postgres");
    expect(config.status, errors(config)).toBe(200);
    expect(config.body.data.connection_details.connection_url).toMatch(/\?sslmode=verify-full$/);
    applied = config.body.data;
    step("c. tofu plan -detailed-exitcode right after apply");
    const plan = await env.terraform(["plan", "-detailed-exitcode", "-input=false"]);
    expect(plan.code, plan.output).toBe(0);
  });

  it("d. the postgresql provider checks the certificate: with sslrootcert naming another CA, a plan is refused", async () => {
    step("d. a plan with sslrootcert pointing at another CA fails: the provider checks the certificate");
    const other = await ThrowawayCa.create();
    try {
      copyFileSync(other.certFile, join(env.dir, "config", "keybuzz-ca.pem"));
      await env.synth();
      const plan = await env.terraform(["plan", "-input=false"]);
      expect(plan.code).not.toBe(0);
      expect(plan.output).toMatch(/x509: certificate signed by unknown authority/);
    } finally {
      other.remove();
      copyFileSync(ca!.certFile, join(env.dir, "config", "keybuzz-ca.pem"));
      await env.synth();
    }
    const plan = await env.terraform(["plan", "-detailed-exitcode", "-input=false"]);
    expect(plan.code, plan.output).toBe(0);
  });

  it("e. credentials issue over TLS and log in with verify-full; every session is encrypted", async () => {
    step("e. reading database/creds/keybuzz-api-db and logging in with verify-full against the CA");
    const res = await v("GET", "database/creds/keybuzz-api-db");
    expect(res.status, errors(res)).toBe(200);
    const { username, password } = res.body.data as { username: string; password: string };
    const app = verifyFull(username, password);
    await app.connect();
    const { rows } = await app.query("SELECT pg_backend_pid() AS pid, session_user AS u");
    expect(rows[0].u).toBe(username);

    step("e. pg_stat_ssl joined with pg_stat_activity: Vault's vault_admin sessions and the application's");
    const all = await sessions();
    const vaultAdmin = all.filter((s) => s.usename === "vault_admin");
    expect(vaultAdmin.length, JSON.stringify(all)).toBeGreaterThan(0);
    expect(
      vaultAdmin.every((s) => s.ssl && s.version === "TLSv1.3"),
      JSON.stringify(vaultAdmin),
    ).toBe(true);
    expect(all.filter((s) => s.pid === rows[0].pid)).toEqual([{ pid: rows[0].pid, usename: username, ssl: true, version: "TLSv1.3" }]);
    expect(all.filter((s) => !s.ssl)).toEqual([]);
    step(`e. ${vaultAdmin.length} vault_admin session(s) and the application's, all TLSv1.3`);

    step("e. the same connection without tls_ca (Vault's system trust store only) is refused");
    const noCa = await v("POST", "database/config/keybuzz-postgres-no-ca", {
      plugin_name: "postgresql-database-plugin",
      connection_url: connection.connection_url,
      username: "vault_admin",
      password: env.adminPassword,
      verify_connection: true,
      allowed_roles: ["*"],
    });
    step(`e. config write without tls_ca answered ${noCa.status}: ${errors(noCa)}`);
    expect(noCa.status).toBe(400);
    expect(errors(noCa)).toContain("tls: failed to verify certificate: x509: certificate signed by unknown authority");

    step("e. revoking the lease (over TLS too), leaving no issued user behind");
    await app.end();
    const revoke = await v("PUT", "sys/leases/revoke-prefix/database/creds", {});
    expect(revoke.status, errors(revoke)).toBe(204);
    expect(await env.dynamicRoles()).toEqual([]);
  });

  it("f. a certificate for another host name: every connection fails, saying so, and nothing is issued", async () => {
    step(`f. serving the certificate for ${WRONG_HOST} (same CA) and reloading PostgreSQL`);
    await env.pg.useCertificate(wrong);
    expect((await env.pg.servedCertificate()).subjectAltName).toBe(`DNS:${WRONG_HOST}`);

    step("f. the postgresql provider (verify-full, sslrootcert) is refused: a plan cannot even read the roles");
    const plan = await env.terraform(["plan", "-input=false"]);
    expect(plan.code).not.toBe(0);
    expect(plan.output).toContain(GO_WRONG_HOST);

    step("f. POST database/reset/keybuzz-postgres, then reading credentials");
    // the reset closes Vault's pooled sessions, which keep their TLS session from before the swap; Vault
    // reopens the connection at once, so the reset itself already fails.
    const reset = await v("POST", "database/reset/keybuzz-postgres", {});
    step(`f. reset answered ${reset.status}: ${errors(reset)}`);
    expect(reset.status).toBe(500);
    expect(errors(reset)).toContain(GO_WRONG_HOST);
    const creds = await v("GET", "database/creds/keybuzz-api-db");
    step(`f. database/creds answered ${creds.status}: ${errors(creds)}`);
    expect(creds.status).toBe(500);
    expect(errors(creds)).toContain(GO_WRONG_HOST);

    step("f. a fresh connection written with the same settings (verify_connection) is refused and not kept");
    const fresh = await v("POST", "database/config/keybuzz-postgres-fresh", {
      plugin_name: "postgresql-database-plugin",
      connection_url: connection.connection_url,
      tls_ca: connection.tls_ca,
      username: "vault_admin",
      password: env.adminPassword,
      verify_connection: true,
      allowed_roles: ["*"],
    });
    step(`f. config write answered ${fresh.status}: ${errors(fresh)}`);
    expect(fresh.status).toBe(400);
    expect(errors(fresh)).toContain(GO_WRONG_HOST);
    expect((await v("GET", "database/config/keybuzz-postgres-fresh")).status).toBe(404);

    step("f. tofu apply of a changed connection (pool lifetime 6m): refused, the connection Vault holds unchanged");
    poolLifetime = "6m";
    await env.synth();
    const apply = await env.terraform(["apply", "-auto-approve", "-input=false"]);
    const applyError = apply.output.split("\n").find((l) => l.includes(GO_WRONG_HOST)) ?? "";
    step(`f. tofu apply exited ${apply.code}: ${applyError.trim()}`);
    expect(apply.code, apply.output).not.toBe(0);
    expect(apply.output).toContain(GO_WRONG_HOST);
    const kept = await v("GET", "database/config/keybuzz-postgres");
    expect(kept.body.data, errors(kept)).toEqual(applied);

    step("f. nothing issued: no v- user in PostgreSQL, no lease in Vault");
    expect(await env.dynamicRoles()).toEqual([]);
    const leases = await v("GET", "sys/leases/lookup/database/creds/keybuzz-api-db/?list=true");
    expect(leases.status, errors(leases)).toBe(404);
  });
});
