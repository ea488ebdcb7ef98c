import { describe, expect, it } from "vitest";
import type { TerraformStack } from "cdktf";
import { AppRoleAuth, type AppRoleAuthProps, type AppRoleOptions } from "../../constructs/approle-auth";
import { isCidr } from "../../constructs/vocabulary";
import { addProviders, appPolicies, onlyResource, ref, resources, synthStack } from "../helpers";

type Options = Partial<Omit<AppRoleOptions, "policy">> & {
  auth?: AppRoleAuthProps;
  /** Default and max TTL of the credentials the policy opens. @default 3600 and 86400 */
  credentials?: { defaultTtlSeconds?: number; maxTtlSeconds?: number };
};

/** AppRole auth with one role, `app`, carrying the policy of application `app`. */
function build(stack: TerraformStack, { auth: authProps, credentials, ...options }: Options = {}) {
  const policies = appPolicies(stack, [{ name: "app", ...credentials }]);
  const auth = new AppRoleAuth(stack, "AppRoleAuth", authProps);
  const role = auth.addRole({ name: "app", policy: policies.app, ...options });
  return { auth, role, policy: policies.app };
}

function synthAppRole(options: Options = {}) {
  const { json, built } = synthStack((s) => build(s, options));
  return { json, ...built, resource: onlyResource(json, "vault_approle_auth_backend_role") };
}

describe("AppRoleAuth", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthAppRole();
    expect(json).toMatchSnapshot();
  });

  it("mounts the AppRole method at approle by default", () => {
    const { json, auth } = synthAppRole();

    expect(onlyResource(json, "vault_auth_backend")).toEqual({
      type: "approle",
      path: "approle",
      description: "Applications outside Kubernetes",
    });
    expect(auth.path).toBe("approle");
  });

  it("mounts at the configured path", () => {
    const { json, auth } = synthAppRole({ auth: { path: "workers-approle" } });

    expect(onlyResource(json, "vault_auth_backend")).toMatchObject({ type: "approle", path: "workers-approle" });
    expect(auth.path).toBe("workers-approle");
  });

  it("creates a role whose tokens carry only the application's policy, 1h, at most the credentials' 24h", () => {
    const { resource, auth, policy } = synthAppRole();

    expect(resource).toEqual({
      backend: ref(auth.resource, "path"),
      role_name: "app",
      token_policies: [ref(policy.resource)],
      token_no_default_policy: true,
      token_ttl: 3600,
      token_max_ttl: 86400,
      secret_id_ttl: 86400,
    });
  });

  it("takes the TTLs", () => {
    const { resource } = synthAppRole({ tokenTtlSeconds: 900, tokenMaxTtlSeconds: 7200, secretIdTtlSeconds: 600 });

    expect(resource).toMatchObject({ token_ttl: 900, token_max_ttl: 7200, secret_id_ttl: 600 });
  });

  it("keeps tokens within the credentials' max TTL by default", () => {
    const { resource } = synthAppRole({ credentials: { defaultTtlSeconds: 900, maxTtlSeconds: 1800 } });

    expect(resource).toMatchObject({ token_ttl: 900, token_max_ttl: 1800 });
  });

  it("binds both the secret ID and the token to the CIDR blocks given", () => {
    const cidrs = ["10.0.0.0/24", "192.168.1.10/32"];

    const { resource } = synthAppRole({ cidrs });

    expect(resource).toMatchObject({ secret_id_bound_cidrs: cidrs, token_bound_cidrs: cidrs });
  });

  it.each([{ cidrs: undefined }, { cidrs: [] }])("binds to no address when cidrs is $cidrs", ({ cidrs }) => {
    const { resource } = synthAppRole({ cidrs });

    expect(resource).not.toHaveProperty("secret_id_bound_cidrs");
    expect(resource).not.toHaveProperty("token_bound_cidrs");
  });

  it("gives each application's role its own policy", () => {
    const { json, built } = synthStack((s) => {
      const policies = appPolicies(s, [{ name: "api" }, { name: "workers" }]);
      const auth = new AppRoleAuth(s, "AppRoleAuth");
      for (const name of ["api", "workers"]) auth.addRole({ name, policy: policies[name] });
      return policies;
    });

    const byName = Object.fromEntries(resources(json, "vault_approle_auth_backend_role").map((r) => [r.role_name, r.token_policies]));
    expect(byName).toEqual({ api: [ref(built.api.resource)], workers: [ref(built.workers.resource)] });
  });

  it("returns the role name, where to log in and the resource", () => {
    const { role } = synthAppRole();

    expect(role).toEqual({ roleName: "app", loginPath: "auth/approle/login", resource: expect.anything() });
    expect(role.resource.terraformResourceType).toBe("vault_approle_auth_backend_role");
  });

  it("logs in under the configured path", () => {
    const { role } = synthAppRole({ auth: { path: "ci" } });

    expect(role.loginPath).toBe("auth/ci/login");
  });

  it("keys each role by its name, under Roles", () => {
    const { role } = synthAppRole();

    expect(role.resource.node.path).toBe("stack/AppRoleAuth/Roles/app");
  });

  it("fails validation when no role is added", () => {
    const withoutRole = (s: TerraformStack) => {
      addProviders(s);
      appPolicies(s, [{ name: "app" }]);
      return new AppRoleAuth(s, "AppRoleAuth");
    };

    expect(() => synthStack(withoutRole, { runValidations: true })).toThrow('AppRole auth at "approle" has no role: call addRole()');
  });

  it("passes validation with a role", () => {
    const withRole = (s: TerraformStack) => {
      addProviders(s);
      return build(s);
    };

    expect(() => synthStack(withRole, { runValidations: true })).not.toThrow();
  });

  it.each(["AppRole", "app_role", "-approle", "auth/approle", ""])("fails when the path is %j", (path) => {
    expect(() => synthAppRole({ auth: { path } })).toThrow(`path must be a Vault path segment, got "${path}"`);
  });

  it.each(["App", "app_1", "app-", "a/b", ""])("fails when the role name is %j", (name) => {
    expect(() => synthAppRole({ name })).toThrow(`AppRole "${name}": name must be a Vault path segment`);
  });

  it("fails when a role is added twice", () => {
    expect(() =>
      synthStack((s) => {
        const { auth, policy } = build(s);
        auth.addRole({ name: "app", policy });
      }),
    ).toThrow('AppRole "app" is defined twice');
  });

  it.each(["10.0.0.0/33", "300.0.0.1/8", "10.0.0.0", "10.0.0/8", "fd00::/8", ""])("fails when a CIDR block is %j", (cidr) => {
    expect(() => synthAppRole({ cidrs: ["10.0.0.0/24", cidr] })).toThrow(
      `AppRole "app": cidrs must be IPv4 CIDR blocks such as 10.0.0.0/24, got "${cidr}"`,
    );
  });

  it.each([
    [{ tokenTtlSeconds: 0 }, "tokenTtlSeconds must be positive whole seconds, got 0"],
    [{ tokenMaxTtlSeconds: 90000 }, "tokenMaxTtlSeconds must not exceed the credentials' max TTL: 90000s > 86400s"],
    [{ tokenTtlSeconds: 7200, tokenMaxTtlSeconds: 3600 }, "tokenTtlSeconds must not exceed tokenMaxTtlSeconds: 7200s > 3600s"],
  ])("fails with the role's name when its TTLs are wrong (%j)", (ttls, message) => {
    expect(() => synthAppRole(ttls)).toThrow(`AppRole "app": ${message}`);
  });

  it.each([0, -1, 1.5])("fails when the secret ID TTL is %d", (secretIdTtlSeconds) => {
    expect(() => synthAppRole({ secretIdTtlSeconds })).toThrow(`AppRole "app": secretIdTtlSeconds must be positive, got ${secretIdTtlSeconds}`);
  });
});

describe("isCidr", () => {
  it.each(["10.0.0.0/24", "0.0.0.0/0", "255.255.255.255/32", "192.168.1.10/32"])("accepts %j", (value) => {
    expect(isCidr(value)).toBe(true);
  });

  it.each([
    "10.0.0.0/33",
    "300.0.0.1/8",
    "10.0.0.0",
    "10.0.0/8",
    "10.0.0.0/",
    "fd00::/8",
    " 10.0.0.0/8",
    "10.0.0.0/8 ",
    "",
    "010.0.0.0/8",
    "10.0.0.0/08",
  ])("refuses %j", (value) => {
    expect(isCidr(value)).toBe(false);
  });
});
