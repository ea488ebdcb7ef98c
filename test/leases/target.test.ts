import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { auditedApplications, targetFor } from "../../leases/target";
import { VaultClient } from "../../leases/vault-client";
import { parseEnvironment } from "../../stacks/environment";
import { FUNCTIONS_SCHEMA, LEASE_AUDIT_NAMES } from "../../stacks/keybuzz-names";
import { ROOT } from "../helpers";

/** config/local.json, its workers also in keybuzz_api (an additional base role). */
function localConfig() {
  const data = JSON.parse(readFileSync(join(ROOT, "config", "local.json"), "utf8"));
  data.applications.find((a: { name: string }) => a.name === "workers").additionalBaseRoles = ["keybuzz_api"];
  return parseEnvironment("local", "config/local.json", JSON.stringify(data));
}

describe("auditedApplications", () => {
  it("lists each configured application with its base role first, then its additional ones, and its lease budget", () => {
    expect(auditedApplications(localConfig()).slice(0, 4)).toEqual([
      { name: "keybuzz-api", vaultRole: "keybuzz-api-db", allowedRoles: ["keybuzz_api"], leaseBudget: 4 },
      { name: "chatwoot", vaultRole: "chatwoot-db", allowedRoles: ["chatwoot"], leaseBudget: 4 },
      { name: "n8n", vaultRole: "n8n-db", allowedRoles: ["n8n"], leaseBudget: 4 },
      { name: "workers", vaultRole: "workers-db", allowedRoles: ["keybuzz_workers", "keybuzz_api"], leaseBudget: 4 },
    ]);
  });

  it("takes an application's leaseBudget when its config sets one, else 4 × its replicas", () => {
    const config = localConfig();
    const apps = config.applications.map((a, i) => (i === 0 ? { ...a, leaseBudget: 40 } : i === 1 ? { ...a, replicas: 3 } : a));
    expect(auditedApplications({ ...config, applications: apps }).map((a) => a.leaseBudget)).toEqual([40, 12, 4, 4, undefined, undefined, undefined]);
  });

  it("adds the audit's own three Vault roles, the fix's users also in the audit's base role", () => {
    const n = LEASE_AUDIT_NAMES;
    expect(auditedApplications(localConfig()).slice(4)).toEqual([
      { name: "leases-audit", vaultRole: n.probeRole, allowedRoles: [n.probeBaseRole] },
      { name: "leases-audit", vaultRole: n.auditRole, allowedRoles: [n.auditBaseRole] },
      { name: "leases-audit", vaultRole: n.fixRole, allowedRoles: [n.fixBaseRole, n.auditBaseRole] },
    ]);
  });
});

describe("targetFor", () => {
  it("looks where the environment says: its Vault address and mount, its PostgreSQL database, the functions' schema", () => {
    const config = localConfig();
    const target = targetFor(config, "t");
    expect(target).toMatchObject({
      environment: "local",
      mountPath: "database",
      functionsSchema: FUNCTIONS_SCHEMA,
      postgres: { host: "127.0.0.1", port: 5432, database: "keybuzz", sslmode: "disable", ca: undefined },
      applications: auditedApplications(config),
    });
    expect(target.vault).toBeInstanceOf(VaultClient);
    expect(target.vault.address).toBe("http://127.0.0.1:8200");
  });

  it("verifies PostgreSQL against the environment's CA when it has one", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const target = targetFor({ ...localConfig(), postgresCaCert: { pem, path: "/etc/keybuzz/pg-ca.pem" } }, "t");
    expect(target.postgres.ca).toBe(pem);
  });
});
