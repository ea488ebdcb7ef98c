import { describe, expect, it } from "vitest";
import { credentialOf, irrevocableOf, issuedUserOf, leaseOf, listedLeases, orphanSessionOf, pgConfig } from "../../leases/collect";
import type { Target } from "../../leases/target";
import { VaultClient } from "../../leases/vault-client";

const reply = (status: number, body: unknown = {}) => ({ status, body });
const PERMISSION_DENIED = reply(403, { errors: ["1 error occurred:\n\t* permission denied\n\n"] });

describe("credentialOf", () => {
  it("reads the user, password and lease ID of an issued credential", () => {
    const res = reply(200, { lease_id: "database/creds/chatwoot-db/abc", data: { username: "v-root-chatwoot-X", password: "pw" } });
    expect(credentialOf("database/creds/chatwoot-db", res)).toEqual({
      username: "v-root-chatwoot-X",
      password: "pw",
      leaseId: "database/creds/chatwoot-db/abc",
    });
  });

  it("throws with the path, the status and Vault's errors on one line otherwise", () => {
    expect(() => credentialOf("database/creds/leases-probe", PERMISSION_DENIED)).toThrow(
      "database/creds/leases-probe: 403 1 error occurred: * permission denied",
    );
  });
});

describe("listedLeases", () => {
  it("names each listed lease by its full ID, with its Vault role", () => {
    const res = reply(200, { data: { keys: ["a1", "b2"] } });
    expect(listedLeases("database/creds/chatwoot-db/", "chatwoot-db", res)).toEqual([
      { id: "database/creds/chatwoot-db/a1", vaultRole: "chatwoot-db" },
      { id: "database/creds/chatwoot-db/b2", vaultRole: "chatwoot-db" },
    ]);
  });

  it("finds none for a 404 (no lease was ever issued under the prefix) or an answer without keys", () => {
    expect(listedLeases("database/creds/n8n-db/", "n8n-db", reply(404, { errors: [] }))).toEqual([]);
    expect(listedLeases("database/creds/n8n-db/", "n8n-db", reply(200, { data: {} }))).toEqual([]);
  });

  it("throws with the prefix and Vault's answer for any other status", () => {
    expect(() => listedLeases("database/creds/n8n-db/", "n8n-db", PERMISSION_DENIED)).toThrow(
      "listing the leases of database/creds/n8n-db/: 403 1 error occurred: * permission denied",
    );
  });
});

describe("leaseOf", () => {
  it("reads the issue and expiry times as Unix seconds, with fractions, and whether it renews", () => {
    const res = reply(200, {
      data: { id: "x", issue_time: "2027-01-15T08:00:00.25Z", expire_time: "2027-01-15T09:00:00Z", renewable: true, ttl: 3599 },
    });
    expect(leaseOf("database/creds/chatwoot-db/x", "chatwoot-db", res)).toEqual({
      id: "database/creds/chatwoot-db/x",
      vaultRole: "chatwoot-db",
      issueTime: Date.UTC(2027, 0, 15, 8) / 1000 + 0.25,
      expireTime: Date.UTC(2027, 0, 15, 9) / 1000,
      renewable: true,
    });
  });

  it("reads a lease without the renewable field as not renewable", () => {
    const res = reply(200, { data: { issue_time: "2027-01-15T08:00:00Z", expire_time: "2027-01-15T09:00:00Z" } });
    expect(leaseOf("database/creds/chatwoot-db/x", "chatwoot-db", res)?.renewable).toBe(false);
  });

  it("leaves out a lease revoked since the listing (400, invalid lease)", () => {
    expect(leaseOf("database/creds/chatwoot-db/x", "chatwoot-db", reply(400, { errors: ["invalid lease"] }))).toBeUndefined();
  });

  it("throws with the lease ID and Vault's answer for any other status", () => {
    expect(() => leaseOf("database/creds/chatwoot-db/x", "chatwoot-db", reply(500, { errors: ["internal error"] }))).toThrow(
      "looking up database/creds/chatwoot-db/x: 500 internal error",
    );
  });
});

describe("irrevocableOf", () => {
  it("keeps the irrevocable leases of this mount's credentials only, with Vault's last error", () => {
    const res = reply(200, {
      data: {
        leases: [
          { lease_id: "database/creds/chatwoot-db/a", error: "failed to revoke: connection refused" },
          { lease_id: "database-eu/creds/chatwoot-db/b", error: "other mount" },
          { lease_id: "database/config/c", error: "not a credential" },
          { lease_id: "database/creds/n8n-db/d" },
        ],
      },
    });
    expect(irrevocableOf("database", res)).toEqual([
      { id: "database/creds/chatwoot-db/a", error: "failed to revoke: connection refused" },
      { id: "database/creds/n8n-db/d", error: "" },
    ]);
  });

  it("finds none when Vault lists none (null or no data)", () => {
    expect(irrevocableOf("database", reply(200, { data: { leases: null } }))).toEqual([]);
    expect(irrevocableOf("database", reply(204))).toEqual([]);
  });
});

describe("issuedUserOf and orphanSessionOf", () => {
  const row = { name: "v-a", can_login: true, valid_until: 1_800_000_000.5, member_of: ["chatwoot"], sessions: 2 };

  it("turns a row of pg_roles into an issued user", () => {
    expect(issuedUserOf(row)).toEqual({ name: "v-a", canLogin: true, validUntil: 1_800_000_000.5, memberOf: ["chatwoot"], sessions: 2 });
  });

  it("reads no VALID UNTIL, and VALID UNTIL 'infinity', as none", () => {
    expect(issuedUserOf({ ...row, valid_until: null }).validUntil).toBeNull();
    expect(issuedUserOf({ ...row, valid_until: Number.POSITIVE_INFINITY }).validUntil).toBeNull();
  });

  it("turns a session of a dropped role into an orphan session", () => {
    expect(orphanSessionOf({ pid: 4242, database: "keybuzz", role_oid: 16_999, backend_start: 1_800_000_000.125 })).toEqual({
      pid: 4242,
      database: "keybuzz",
      roleOid: 16_999,
      backendStart: 1_800_000_000.125,
    });
  });
});

describe("pgConfig", () => {
  const target = (sslmode: string): Target => ({
    environment: "prod",
    vault: new VaultClient("http://127.0.0.1:9", "t"),
    mountPath: "database",
    functionsSchema: "keybuzz_vault",
    postgres: { host: "db.internal", port: 6432, database: "keybuzz", sslmode, ca: "CA PEM" },
    applications: [],
  });
  const cred = { username: "v-root-leases-a-X", password: "pw", leaseId: "database/creds/leases-audit/x" };

  it("logs in to the target's database as the credential's user, named keybuzz-leases", () => {
    expect(pgConfig(target("disable"), cred)).toMatchObject({
      host: "db.internal",
      port: 6432,
      database: "keybuzz",
      user: "v-root-leases-a-X",
      password: "pw",
      application_name: "keybuzz-leases",
      ssl: false,
    });
  });

  it("verifies the certificate and its host name against the CA with verify-full", () => {
    expect(pgConfig(target("verify-full"), cred).ssl).toEqual({ ca: "CA PEM", rejectUnauthorized: true });
  });

  it("verifies the certificate against the CA but not its host name with verify-ca", () => {
    const ssl = pgConfig(target("verify-ca"), cred).ssl as { ca: string; rejectUnauthorized: boolean; checkServerIdentity: () => unknown };
    expect(ssl).toMatchObject({ ca: "CA PEM", rejectUnauthorized: true });
    expect(ssl.checkServerIdentity()).toBeUndefined();
  });

  it.each(["require", "prefer", "allow"])("encrypts without verifying with %s, as libpq does", (sslmode) => {
    expect(pgConfig(target(sslmode), cred).ssl).toEqual({ rejectUnauthorized: false });
  });
});
