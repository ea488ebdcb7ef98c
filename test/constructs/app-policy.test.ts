import { describe, expect, it } from "vitest";
import type { TerraformStack } from "cdktf";
import { AppPolicy, policyDocument, type AppPolicyProps } from "../../constructs/app-policy";
import { dynamicRoles, onlyResource, synthStack, type RoleOptions } from "../helpers";

type Options = Partial<Omit<AppPolicyProps, "role">> & { role?: Partial<RoleOptions>; mountPath?: string };

/** The policy of application `app` over its dynamic role `app-db` (24h max TTL unless told). */
function build(stack: TerraformStack, { role: roleOptions, mountPath, ...props }: Options = {}) {
  const { roles, ...rest } = dynamicRoles(stack, [{ name: "app-db", ...roleOptions }], { mountPath });
  const policy = new AppPolicy(stack, "app", { role: roles[0], ...props });
  return { ...rest, role: roles[0], policy };
}

function synthPolicy(options: Options = {}) {
  const { json, built } = synthStack((s) => build(s, options));
  return { json, ...built, resource: onlyResource(json, "vault_policy") };
}

/** Every `path "…" { capabilities = […] }` block of a policy, as path → capabilities. */
function grants(policy: string): Record<string, string[]> {
  const blocks = [...policy.matchAll(/path "([^"]+)" \{\s*capabilities = \[([^\]]*)\]\s*\}/g)];
  return Object.fromEntries(blocks.map(([, path, caps]) => [path, caps.split(",").map((c) => c.trim().replace(/"/g, ""))]));
}

/** The policy without its path blocks and comments: what would be left if it held anything else. */
function rest(policy: string): string {
  return policy
    .replace(/path "[^"]+" \{\s*capabilities = \[[^\]]*\]\s*\}/g, "")
    .replace(/^#.*$/gm, "")
    .trim();
}

describe("AppPolicy", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthPolicy();
    expect(json).toMatchSnapshot();
  });

  it("reads the application's credentials, renews and revokes its leases, renews, looks up and revokes its token, in these exact words", () => {
    const { resource } = synthPolicy();

    expect(resource.policy).toBe(
      [
        "# database/creds/app-db: these credentials, and nothing else.",
        'path "database/creds/app-db" {',
        '  capabilities = ["read"]',
        "}",
        "",
        "# renew and revoke only its own leases, with the lease ID in the path.",
        'path "sys/leases/renew/database/creds/app-db/*" {',
        '  capabilities = ["update"]',
        "}",
        "",
        'path "sys/leases/revoke/database/creds/app-db/*" {',
        '  capabilities = ["update"]',
        "}",
        "",
        "# renew with the lease ID in the body, as Vault Agent does (as Vault's default policy allows; never past max TTL).",
        'path "sys/leases/renew" {',
        '  capabilities = ["update"]',
        "}",
        "",
        "# keep its own token alive up to its max TTL, and read what it carries.",
        'path "auth/token/renew-self" {',
        '  capabilities = ["update"]',
        "}",
        "",
        'path "auth/token/lookup-self" {',
        '  capabilities = ["read"]',
        "}",
        "",
        "# end its own token, and with it every credential it read (the agent's service does at stop).",
        'path "auth/token/revoke-self" {',
        '  capabilities = ["update"]',
        "}",
        "",
      ].join("\n"),
    );
  });

  it("grants nothing outside its own credentials path, its own leases and its own token", () => {
    const { resource } = synthPolicy();

    const policy = String(resource.policy);
    expect(grants(policy)).toEqual({
      "database/creds/app-db": ["read"],
      "sys/leases/renew/database/creds/app-db/*": ["update"],
      "sys/leases/renew": ["update"],
      "sys/leases/revoke/database/creds/app-db/*": ["update"],
      "auth/token/renew-self": ["update"],
      "auth/token/lookup-self": ["read"],
      "auth/token/revoke-self": ["update"],
    });
    expect(policy.match(/\bpath\b\s*"/g)).toHaveLength(7);
    expect(rest(policy)).toBe("");
  });

  it("is the text policyDocument() writes for the role's credentials path", () => {
    const { resource, role } = synthPolicy();

    expect(resource.policy).toBe(policyDocument(role.credentialsPath));
  });

  it("reads under the mount path as configured", () => {
    const { resource } = synthPolicy({ mountPath: "keybuzz-db" });

    expect(grants(String(resource.policy))).toEqual({
      "keybuzz-db/creds/app-db": ["read"],
      "sys/leases/renew/keybuzz-db/creds/app-db/*": ["update"],
      "sys/leases/renew": ["update"],
      "sys/leases/revoke/keybuzz-db/creds/app-db/*": ["update"],
      "auth/token/renew-self": ["update"],
      "auth/token/lookup-self": ["read"],
      "auth/token/revoke-self": ["update"],
    });
    expect(resource.policy).not.toContain("database/");
  });

  it("is named after the Vault role by default", () => {
    const { resource, policy, role } = synthPolicy();

    expect(resource.name).toBe("app-db");
    expect(policy.policyName).toBe("app-db");
    expect(policy.role).toBe(role);
  });

  it("takes another name", () => {
    const { resource, policy } = synthPolicy({ name: "app-reader" });

    expect(resource.name).toBe("app-reader");
    expect(policy.policyName).toBe("app-reader");
  });

  it.each(["App-db", "app_db", "-app", "app-", "app/db", "app db", ""])("fails when the name is %j", (name) => {
    expect(() => synthPolicy({ name })).toThrow(`name must be a lower-case Vault policy name (a-z, 0-9, -), got "${name}"`);
  });

  it.each(["root", "default"])("fails when named after Vault's built-in %s policy", (name) => {
    expect(() => synthPolicy({ name })).toThrow(`name must not be Vault's built-in "${name}" policy`);
  });

  it("fails when the Vault role it would be named after is called default", () => {
    expect(() => synthPolicy({ role: { name: "default" } })).toThrow(`name must not be Vault's built-in "default" policy`);
  });
});

describe("AppPolicy.tokenTtls", () => {
  /** The policy of a role with that max TTL (24h unless told). */
  function policyOf(maxTtlSeconds?: number, defaultTtlSeconds?: number): AppPolicy {
    return synthPolicy({ role: { maxTtlSeconds, defaultTtlSeconds } }).policy;
  }

  it("defaults to the credentials' own TTLs (1h and 24h unless configured)", () => {
    expect(policyOf().tokenTtls("token")).toEqual({ ttl: 3600, maxTtl: 86400 });
  });

  it("defaults to the credentials' default and max TTL", () => {
    expect(policyOf(1800, 900).tokenTtls("token")).toEqual({ ttl: 900, maxTtl: 1800 });
  });

  it("fails when the max TTL is under the credentials' default TTL, which would cut every lease short", () => {
    expect(() => policyOf().tokenTtls("token", undefined, 1800)).toThrow(
      "token: tokenMaxTtlSeconds must be at least the credentials' default TTL (3600s): Vault revokes credentials with the token that read them, so the token would cut every lease short",
    );
  });

  it("takes the TTLs given", () => {
    expect(policyOf().tokenTtls("token", 900, 7200)).toEqual({ ttl: 900, maxTtl: 7200 });
  });

  it("takes TTLs equal to the credentials' max TTL", () => {
    expect(policyOf(7200).tokenTtls("token", 7200, 7200)).toEqual({ ttl: 7200, maxTtl: 7200 });
  });

  it.each([
    [0, undefined, "tokenTtlSeconds must be positive whole seconds, got 0"],
    [-60, undefined, "tokenTtlSeconds must be positive whole seconds, got -60"],
    [1.5, undefined, "tokenTtlSeconds must be positive whole seconds, got 1.5"],
    [undefined, 0, "tokenMaxTtlSeconds must be positive whole seconds, got 0"],
    [3600, -1, "tokenMaxTtlSeconds must be positive whole seconds, got -1"],
  ])("fails when a TTL is not positive whole seconds (TTL %s, max %s)", (ttl, maxTtl, message) => {
    expect(() => policyOf().tokenTtls('AppRole "app"', ttl, maxTtl)).toThrow(`AppRole "app": ${message}`);
  });

  it("fails when the TTL exceeds the credentials' max TTL", () => {
    expect(() => policyOf().tokenTtls("token", 86401)).toThrow("token: tokenTtlSeconds must not exceed the credentials' max TTL: 86401s > 86400s");
  });

  it("fails when the max TTL exceeds the credentials' max TTL", () => {
    expect(() => policyOf(7200).tokenTtls("token", 3600, 7201)).toThrow(
      "token: tokenMaxTtlSeconds must not exceed the credentials' max TTL: 7201s > 7200s",
    );
  });

  it("fails when the TTL exceeds the max TTL", () => {
    expect(() => policyOf().tokenTtls("token", 7200, 3600)).toThrow("token: tokenTtlSeconds must not exceed tokenMaxTtlSeconds: 7200s > 3600s");
  });
});
