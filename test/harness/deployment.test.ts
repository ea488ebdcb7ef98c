import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LocalDeployment, type EnvironmentOptions, type PostgresEndpoint } from "../../harness/deployment";
import type { VaultEndpoint, VaultResponse } from "../../harness/vault";

/** A PostgreSQL endpoint that runs nothing. */
function fakePostgres(stop: () => Promise<void> = async () => undefined): PostgresEndpoint {
  return {
    host: "127.0.0.1",
    port: 54321,
    superuser: "postgres",
    superuserPassword: "su-secret",
    version: 15,
    query: async () => [],
    tryLogin: async () => ({ ok: true }),
    stop: vi.fn(stop),
  };
}

/** A Vault endpoint that answers each call with the next scripted response and records the calls. */
function fakeVault(answers: VaultResponse[] = []) {
  const calls: { method: string; path: string; body?: unknown; token?: string }[] = [];
  const vault: VaultEndpoint = {
    address: "https://127.0.0.1:8200",
    caFile: "/tmp/ca.crt",
    rootToken: "root-token",
    product: "OpenBao",
    cli: "bao",
    label: "OpenBao 2.6.2",
    request: async (method, path, body, token) => {
      calls.push({ method, path, body, token });
      const answer = answers.shift();
      if (!answer) throw new Error(`unexpected call ${method} ${path}`);
      return answer;
    },
    stop: vi.fn(async () => undefined),
  };
  return { vault, calls };
}

let tmp: string;
beforeEach(() => {
  // the deployment's folder goes in the system temp folder: here, one this test owns.
  tmp = mkdtempSync(join(tmpdir(), "keybuzz-deployment-test-"));
  vi.stubEnv("TMPDIR", tmp);
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  rmSync(tmp, { recursive: true, force: true });
});

function start(vault: VaultEndpoint, options: Partial<EnvironmentOptions<PostgresEndpoint, VaultEndpoint>> = {}) {
  const pg = fakePostgres();
  return LocalDeployment.start<PostgresEndpoint, VaultEndpoint>({
    startPostgres: async () => pg,
    startVault: async () => vault,
    tools: { engine: "/opt/tofu", cliConfig: "/c/cli.tfrc" },
    log: "[test]",
    ...options,
  });
}

describe("LocalDeployment.start", () => {
  it("fails when given neither a PostgreSQL server nor a way to start one, and leaves no folder", async () => {
    await expect(LocalDeployment.start({ vaultBinary: "/c/bao", tools: { engine: "tofu" }, log: "[test]" } as EnvironmentOptions)).rejects.toThrow(
      "give either server or startPostgres",
    );
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("fails when given both a Vault binary and a way to start Vault", async () => {
    await expect(start(fakeVault().vault, { vaultBinary: "/c/bao" })).rejects.toThrow("give either vaultBinary or startVault");
  });

  it("stops the server that started when the other fails, and rethrows", async () => {
    const { vault } = fakeVault();
    await expect(
      start(vault, {
        startPostgres: async () => {
          throw new Error("initdb failed");
        },
      }),
    ).rejects.toThrow("initdb failed");
    expect(vault.stop).toHaveBeenCalled();
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("keeps its files in a temp folder the postgres user can pass through", async () => {
    const env = await start(fakeVault().vault);
    try {
      expect(env.dir.startsWith(join(tmp, "keybuzz-env-"))).toBe(true);
      expect(statSync(env.dir).mode & 0o777).toBe(0o711);
      expect(env.stackDir).toBe(join(env.dir, "cdktf.out", "stacks", "keybuzz-local"));
    } finally {
      await env.stop();
    }
    expect(existsSync(env.dir)).toBe(false);
  });

  it("reads the application database from the patched config", async () => {
    const env = await start(fakeVault().vault, {
      patchConfig: (c) => {
        c.postgres.database = "shop";
      },
    });
    expect(env.databaseName).toBe("shop");
    await env.stop();
  });
});

describe("LocalDeployment credentials", () => {
  it("deploys with the servers' root token, CA and superuser password, HOME in its folder", async () => {
    const env = await start(fakeVault().vault);
    expect(env.credentials).toEqual({
      engine: "/opt/tofu",
      cliConfig: "/c/cli.tfrc",
      vaultToken: "root-token",
      vaultCaCert: "/tmp/ca.crt",
      pgPassword: "su-secret",
      adminPassword: env.adminPassword,
      home: env.dir,
    });
    expect(env.engineEnv({ PG_CONN_STR: "postgres://x" })).toMatchObject({ VAULT_TOKEN: "root-token", HOME: env.dir, PG_CONN_STR: "postgres://x" });
    await env.stop();
  });
});

describe("LocalDeployment.issue", () => {
  const creds = { status: 200, body: { lease_id: "database/creds/api/abc", data: { username: "v-api-x", password: "p" } } };

  it("reads the role's credentials", async () => {
    const { vault, calls } = fakeVault([creds]);
    const env = await start(vault);
    expect(await env.issue("api")).toEqual({ username: "v-api-x", password: "p", leaseId: "database/creds/api/abc" });
    expect(calls).toEqual([{ method: "GET", path: "database/creds/api", body: undefined, token: undefined }]);
    await env.stop();
  });

  it("shortens the lease by renewing it with the ttl as increment", async () => {
    const { vault, calls } = fakeVault([creds, { status: 200, body: {} }]);
    const env = await start(vault);
    await env.issue("api", { ttl: "5s", token: "app-token" });
    expect(calls.map((c) => [c.method, c.path, c.body, c.token])).toEqual([
      ["GET", "database/creds/api", undefined, "app-token"],
      ["PUT", "sys/leases/renew", { lease_id: "database/creds/api/abc", increment: "5s" }, undefined],
    ]);
    await env.stop();
  });

  it("throws with Vault's answer when it refuses", async () => {
    const env = await start(fakeVault([{ status: 403, body: { errors: ["permission denied"] } }]).vault);
    await expect(env.issue("api")).rejects.toThrow('database/creds/api: 403 {"errors":["permission denied"]}');
    await env.stop();
  });
});

describe("LocalDeployment leases", () => {
  it("revokes a lease, and throws unless Vault answers 204", async () => {
    const { vault, calls } = fakeVault([
      { status: 204, body: {} },
      { status: 400, body: { errors: ["invalid lease"] } },
    ]);
    const env = await start(vault);
    await env.revoke("l1");
    expect(calls[0]).toMatchObject({ method: "PUT", path: "sys/leases/revoke", body: { lease_id: "l1" } });
    await expect(env.revoke("l2")).rejects.toThrow('revoke l2: 400 {"errors":["invalid lease"]}');
    await env.stop();
  });

  it("lists outstanding leases, none when Vault has no such prefix", async () => {
    const { vault, calls } = fakeVault([
      { status: 404, body: {} },
      { status: 200, body: { data: { keys: ["a", "b"] } } },
    ]);
    const env = await start(vault);
    expect(await env.outstandingLeases("api")).toEqual([]);
    expect(await env.outstandingLeases("api")).toEqual(["a", "b"]);
    expect(calls[0]).toMatchObject({ method: "LIST", path: "sys/leases/lookup/database/creds/api/" });
    await env.stop();
  });

  it("counts irrevocable leases", async () => {
    const env = await start(fakeVault([{ status: 200, body: { data: { lease_count: 3 } } }]).vault);
    expect(await env.irrevocableLeases()).toBe(3);
    await env.stop();
  });
});

describe("LocalDeployment.stop", () => {
  it("removes the folder even when a server fails to stop, then says so", async () => {
    const { vault } = fakeVault();
    const pg = fakePostgres(async () => {
      throw new Error("pg_ctl stop failed");
    });
    const env = await start(vault, { startPostgres: async () => pg });
    await expect(env.stop()).rejects.toThrow("pg_ctl stop failed");
    expect(vault.stop).toHaveBeenCalled();
    expect(existsSync(env.dir)).toBe(false);
  });
});
