import { describe, expect, it } from "vitest";
import { REDACTED, redact, redactAt } from "../../review/redact";

describe("redact", () => {
  it.each([
    ["password", "hunter2"],
    ["password_wo", "hunter2"],
    ["token", "hvs.abc"],
    ["secret_id", "1234"],
    ["private_key", "-----BEGIN"],
    ["conn_str", "postgres://u:p@h/db"],
  ])("hides a literal %s", (key, value) => {
    expect(redact(value, key)).toBe(REDACTED);
  });

  it.each([
    ["password_wo", "${var.vault_admin_password}"],
    ["password_wo_version", "1"],
    ["password_authentication", "scram-sha-256"],
    ["password", ""],
    ["name", "vault_admin"],
  ])("keeps %s = %j, which is no secret", (key, value) => {
    expect(redact(value, key)).toBe(value);
  });

  it("hides the password of a URL but keeps Vault's template", () => {
    expect(redact("postgresql://vault_admin:hunter2@10.0.0.11:5432/keybuzz")).toBe("postgresql://vault_admin:(redacted)@10.0.0.11:5432/keybuzz");
    expect(redact("postgresql://{{username}}:{{password}}@10.0.0.11:5432/keybuzz")).toBe(
      "postgresql://{{username}}:{{password}}@10.0.0.11:5432/keybuzz",
    );
  });

  it("walks nested objects and lists", () => {
    expect(redact({ postgresql: [{ password: "x", username: "u" }], tokens: ["a"] })).toEqual({
      postgresql: [{ password: REDACTED, username: "u" }],
      tokens: ["a"],
    });
  });

  it("judges an attribute by the last name of its path", () => {
    expect(redactAt("postgresql.password", "hunter2")).toBe(REDACTED);
    expect(redactAt("provider.vault.token", "hvs.x")).toBe(REDACTED);
    expect(redactAt("postgresql.username", "vault_admin")).toBe("vault_admin");
  });

  it("judges an attribute of a nested block by its name, not by the block's index", () => {
    expect(redactAt("postgresql.0.password", "hunter2")).toBe(REDACTED);
    expect(redactAt("postgresql.0.password_wo", "${var.vault_admin_password}")).toBe("${var.vault_admin_password}");
    expect(redactAt("postgresql.0.username", "vault_admin")).toBe("vault_admin");
  });
});
