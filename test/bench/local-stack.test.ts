/** bench/local-stack.ts: the `local` stack's names, read from its config file rather than restated in the bench. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { localStackNames } from "../../bench/local-stack";
import { ROOT } from "../helpers";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A config folder holding config/local.json changed by `change`. */
function configDir(change: (config: Record<string, any>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "keybuzz-bench-names-"));
  dirs.push(dir);
  const config = JSON.parse(readFileSync(join(ROOT, "config", "local.json"), "utf8"));
  delete config.$schema;
  change(config);
  writeFileSync(join(dir, "local.json"), JSON.stringify(config));
  return dir;
}

describe("localStackNames", () => {
  it("reads the committed config/local.json: the four applications' Vault roles, the first as the project's role", () => {
    const names = localStackNames();
    expect(names.vaultRoles).toEqual(["keybuzz-api-db", "chatwoot-db", "n8n-db", "workers-db"]);
    expect(names.projectRole).toEqual({ vaultRole: "keybuzz-api-db", baseRole: "keybuzz_api" });
    expect(names.mountPath).toBe("database");
    expect(names.connectionName).toBe("keybuzz-postgres");
  });

  it("follows the config: other roles, another mount and connection name", () => {
    const dir = configDir((c) => {
      for (const a of c.applications) a.vaultRole = `${a.name}-pg`;
      c.applications.reverse();
      c.vault.mountPath = "postgres";
      c.connection = { name: "pg-main" };
    });
    const names = localStackNames(dir);
    expect(names.vaultRoles).toEqual(["workers-pg", "n8n-pg", "chatwoot-pg", "keybuzz-api-pg"]);
    expect(names.projectRole).toEqual({ vaultRole: "workers-pg", baseRole: "keybuzz_workers" });
    expect(names.mountPath).toBe("postgres");
    expect(names.connectionName).toBe("pg-main");
  });

  it("fills in the schema's defaults, as the synth does", () => {
    const dir = configDir((c) => {
      delete c.vault.mountPath;
      delete c.connection;
    });
    const names = localStackNames(dir);
    expect(names.mountPath).toBe("database");
    expect(names.connectionName).toBe("keybuzz-postgres");
  });

  it("fails naming the file and the field when local.json is invalid", () => {
    const dir = configDir((c) => {
      c.applications[0].vaultRole = "Not A Name";
    });
    expect(() => localStackNames(dir)).toThrow(/local\.json: applications\[0\].*vaultRole.*Not A Name/);
  });

  it("fails when the folder has no local.json", () => {
    const dir = mkdtempSync(join(tmpdir(), "keybuzz-bench-names-"));
    dirs.push(dir);
    writeFileSync(join(dir, "dev.json"), "{}");
    expect(() => localStackNames(dir)).toThrow(/local\.json: no such environment file/);
  });
});
