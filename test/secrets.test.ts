import { writeFileSync } from "node:fs";
import { join, sep } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, listFiles, runMain, scanForSecrets, tempDir, type MainRun } from "./helpers";

// recognisable values that must never reach a synthesized file or a snapshot.
const CANARIES = {
  TF_VAR_vault_admin_password: "canary-vault-admin-password-7f3a9c",
  VAULT_TOKEN: "hvs.canary-vault-token-2b8e41",
  PGPASSWORD: "canary-pgpassword-d05c6e",
};

describe("secrets", () => {
  const out = tempDir("secrets-out");
  const planted = tempDir("secrets-planted");
  let run: MainRun;
  beforeAll(async () => {
    run = await runMain({ CDKTF_OUTDIR: out.path, ...CANARIES });
  });
  afterAll(() => {
    out.remove();
    planted.remove();
  });

  it("synthesizes every environment with the secrets set", () => {
    expect(run.code).toBe(0);
    expect(listFiles(out.path).filter((f) => f.endsWith("cdk.tf.json"))).toHaveLength(4);
  });

  it("writes no secret to any synthesized file, the agents' configurations included", () => {
    const files = listFiles(out.path);
    expect(files.filter((f) => /\/agent\/[^/]+\/(agent\.hcl|vault-agent-.*\.service)$/.test(f)).length).toBeGreaterThanOrEqual(2 * 4);
    expect(scanForSecrets(files, Object.values(CANARIES))).toEqual([]);
  });

  it("keeps no secret in any snapshot or config file", () => {
    const snapshots = listFiles(join(ROOT, "test")).filter((f) => f.includes(`${sep}__snapshots__${sep}`));
    const files = [...snapshots, ...listFiles(join(ROOT, "config"))];

    expect(files.length).toBeGreaterThan(0);
    expect(scanForSecrets(files, Object.values(CANARIES))).toEqual([]);
  });

  describe("the scanner", () => {
    function scan(name: string, text: string): string[] {
      const file = join(planted.path, name);
      writeFileSync(file, text);
      return scanForSecrets([file], Object.values(CANARIES));
    }

    it.each([
      ['{ "password": "hunter2" }', '"password" has a literal value'],
      ['{ "postgresql": { "password_wo": "hunter2" } }', '"password_wo" has a literal value'],
      ['{ "token": "hvs.abc" }', '"token" has a literal value'],
      ['{ "vault_token": "s.abc" }', '"vault_token" has a literal value'],
      ['exports[`x`] = `{ "password": "p\\"w" }`;', '"password" has a literal value'],
    ])("flags the literal in %s", (text, hit) => {
      expect(scan("literal.json", text)).toEqual([expect.stringContaining(hit)]);
    });

    it("flags a canary value anywhere", () => {
      expect(scan("canary.txt", `connection: postgres://u:${CANARIES.PGPASSWORD}@db`)).toEqual([
        expect.stringContaining(`contains the canary value "${CANARIES.PGPASSWORD}"`),
      ]);
    });

    it("accepts references, metadata about secrets and empty values", () => {
      const text = JSON.stringify({
        password_wo: "${var.vault_admin_password}",
        password_wo_version: "1",
        password_authentication: "scram-sha-256",
        token: "",
      });

      expect(scan("clean.json", text)).toEqual([]);
      expect(scan("clean.snap", '"password_wo": "\\${var.vault_admin_password}",')).toEqual([]);
    });
  });
});
