import { describe, expect, it } from "vitest";
import { TerraformOutput } from "cdktf";
import { SecretsMount, type SecretsMountProps } from "../constructs/secrets-mount";
import { onlyResource, ref, synthStack } from "./helpers";

function synthMount(props?: SecretsMountProps) {
  const { json, built } = synthStack((s) => new SecretsMount(s, "Mount", props));
  return { json, mount: built, resource: onlyResource(json, "vault_mount") };
}

describe("SecretsMount", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthMount();
    expect(json).toMatchSnapshot();
  });

  it("mounts the database secrets engine at database with 1h/24h leases by default", () => {
    const { resource } = synthMount();

    expect(resource).toEqual({
      path: "database",
      type: "database",
      description: "KeyBuzz dynamic PostgreSQL credentials",
      default_lease_ttl_seconds: 3600,
      max_lease_ttl_seconds: 86400,
    });
  });

  it("mounts at the configured path with the configured leases", () => {
    const { resource } = synthMount({ path: "keybuzz/db", defaultLeaseTtlSeconds: 900, maxLeaseTtlSeconds: 7200 });

    expect(resource).toMatchObject({
      path: "keybuzz/db",
      type: "database",
      default_lease_ttl_seconds: 900,
      max_lease_ttl_seconds: 7200,
    });
  });

  it("takes a description", () => {
    const { resource } = synthMount({ description: "test mount" });

    expect(resource).toMatchObject({ description: "test mount" });
  });

  it("exposes the path as written and as a reference to the mount", () => {
    const { json, built: mount } = synthStack((s) => {
      const m = new SecretsMount(s, "Mount", { path: "db" });
      new TerraformOutput(s, "mount_path", { value: m.mountPath });
      return m;
    });

    expect(mount.path).toBe("db");
    expect(json.output.mount_path.value).toBe(ref(mount.resource, "path"));
  });

  it.each(["/database", "database/", "Database", "data base", "a//b", ""])("fails when the path is %j", (path) => {
    expect(() => synthMount({ path })).toThrow(`path must be a Vault path without leading or trailing slash, got "${path}"`);
  });

  it.each([
    [0, 86400],
    [-1, 86400],
    [3600, 0],
  ])("fails when a lease TTL is not positive (default %d, max %d)", (defaultLeaseTtlSeconds, maxLeaseTtlSeconds) => {
    expect(() => synthMount({ defaultLeaseTtlSeconds, maxLeaseTtlSeconds })).toThrow(
      `lease TTLs must be positive, got default ${defaultLeaseTtlSeconds}s, max ${maxLeaseTtlSeconds}s`,
    );
  });

  it("fails when the default lease exceeds the maximum", () => {
    expect(() => synthMount({ defaultLeaseTtlSeconds: 7200, maxLeaseTtlSeconds: 3600 })).toThrow(
      "defaultLeaseTtlSeconds must not exceed maxLeaseTtlSeconds, got 7200 > 3600",
    );
  });
});
