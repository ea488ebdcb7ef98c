import { describe, expect, it } from "vitest";
import type { TerraformStack } from "cdktf";
import { KubernetesAuth, type KubernetesAuthProps, type KubernetesRoleOptions } from "../../constructs/kubernetes-auth";
import { CA_PEM, addProviders, appPolicies, dependency, onlyResource, ref, resources, synthStack } from "../helpers";

const HOST = "https://10.0.0.50:6443";

type Options = Partial<Omit<KubernetesRoleOptions, "policy">> & { auth?: Partial<KubernetesAuthProps> };

/** Kubernetes auth on 10.0.0.50 with one role, `app`: service account `app` in namespace `keybuzz`. */
function build(stack: TerraformStack, { auth: authProps, ...options }: Options = {}) {
  const policies = appPolicies(stack, [{ name: "app" }]);
  const auth = new KubernetesAuth(stack, "KubernetesAuth", { kubernetesHost: HOST, ...authProps });
  const role = auth.addRole({ name: "app", policy: policies.app, serviceAccounts: ["app"], namespaces: ["keybuzz"], ...options });
  return { auth, role, policy: policies.app };
}

function synthKubernetes(options: Options = {}) {
  const { json, built } = synthStack((s) => build(s, options));
  return {
    json,
    ...built,
    config: onlyResource(json, "vault_kubernetes_auth_backend_config"),
    resource: onlyResource(json, "vault_kubernetes_auth_backend_role"),
  };
}

describe("KubernetesAuth", () => {
  it("synthesizes a minimal definition", () => {
    const { json } = synthKubernetes();
    expect(json).toMatchSnapshot();
  });

  it("mounts the Kubernetes method at kubernetes by default", () => {
    const { json, auth } = synthKubernetes();

    expect(onlyResource(json, "vault_auth_backend")).toEqual({ type: "kubernetes", path: "kubernetes", description: "Kubernetes pods" });
    expect(auth.path).toBe("kubernetes");
  });

  it("mounts at the configured path", () => {
    const { json, role } = synthKubernetes({ auth: { path: "k8s-prod" } });

    expect(onlyResource(json, "vault_auth_backend")).toMatchObject({ type: "kubernetes", path: "k8s-prod" });
    expect(role.loginPath).toBe("auth/k8s-prod/login");
  });

  it("points the method at the API server, and lets each pod's own JWT review its login", () => {
    const { config, auth } = synthKubernetes();

    expect(config).toEqual({ backend: ref(auth.resource, "path"), kubernetes_host: HOST, disable_local_ca_jwt: true });
  });

  it("trusts the CA given", () => {
    const { config } = synthKubernetes({ auth: { kubernetesCaCert: CA_PEM } });

    expect(config).toMatchObject({ kubernetes_ca_cert: CA_PEM, disable_local_ca_jwt: true });
  });

  it("configures no token-reviewer JWT anywhere", () => {
    const { json } = synthKubernetes({ auth: { kubernetesCaCert: CA_PEM }, audience: "vault" });

    expect(JSON.stringify(json)).not.toContain("token_reviewer_jwt");
  });

  it("binds a role to its service accounts and namespaces; its tokens carry only the application's policy", () => {
    const { resource, auth, policy } = synthKubernetes({ serviceAccounts: ["app", "app-jobs"], namespaces: ["keybuzz", "keybuzz-jobs"] });

    expect(resource).toEqual({
      backend: ref(auth.resource, "path"),
      role_name: "app",
      bound_service_account_names: ["app", "app-jobs"],
      bound_service_account_namespaces: ["keybuzz", "keybuzz-jobs"],
      token_policies: [ref(policy.resource)],
      token_no_default_policy: true,
      token_ttl: 3600,
      token_max_ttl: 86400,
      depends_on: [dependency(auth.config)],
    });
  });

  it("requires the audience given", () => {
    const { resource } = synthKubernetes({ audience: "https://vault.keybuzz.io" });

    expect(resource).toMatchObject({ audience: "https://vault.keybuzz.io" });
  });

  it("requires no audience by default", () => {
    const { resource } = synthKubernetes();

    expect(resource).not.toHaveProperty("audience");
  });

  it("takes the TTLs", () => {
    const { resource } = synthKubernetes({ tokenTtlSeconds: 600, tokenMaxTtlSeconds: 7200 });

    expect(resource).toMatchObject({ token_ttl: 600, token_max_ttl: 7200 });
  });

  it("gives each application's role its own policy", () => {
    const { json, built } = synthStack((s) => {
      const policies = appPolicies(s, [{ name: "api" }, { name: "chatwoot" }]);
      const auth = new KubernetesAuth(s, "KubernetesAuth", { kubernetesHost: HOST });
      for (const name of ["api", "chatwoot"]) auth.addRole({ name, policy: policies[name], serviceAccounts: [name], namespaces: ["keybuzz"] });
      return policies;
    });

    const byName = Object.fromEntries(resources(json, "vault_kubernetes_auth_backend_role").map((r) => [r.role_name, r.token_policies]));
    expect(byName).toEqual({ api: [ref(built.api.resource)], chatwoot: [ref(built.chatwoot.resource)] });
  });

  it("returns the role name, where to log in and the resource, keyed by its name under Roles", () => {
    const { role } = synthKubernetes();

    expect(role).toEqual({
      roleName: "app",
      loginPath: "auth/kubernetes/login",
      resource: expect.anything(),
      serviceAccounts: expect.any(Array),
      namespaces: expect.any(Array),
      audience: undefined,
    });
    expect(role.resource.node.path).toBe("stack/KubernetesAuth/Roles/app");
  });

  it.each([
    { serviceAccounts: ["*"], namespaces: ["keybuzz"] },
    { serviceAccounts: ["app"], namespaces: ["*"] },
  ])("accepts the wildcard when wildcards are not forbidden ($serviceAccounts in $namespaces)", ({ serviceAccounts, namespaces }) => {
    const { resource } = synthKubernetes({ serviceAccounts, namespaces });

    expect(resource).toMatchObject({ bound_service_account_names: serviceAccounts, bound_service_account_namespaces: namespaces });
  });

  it("fails validation when no role is added", () => {
    const withoutRole = (s: TerraformStack) => {
      addProviders(s);
      appPolicies(s, [{ name: "app" }]);
      return new KubernetesAuth(s, "KubernetesAuth", { kubernetesHost: HOST });
    };

    expect(() => synthStack(withoutRole, { runValidations: true })).toThrow('Kubernetes auth at "kubernetes" has no role: call addRole()');
  });

  it("passes validation with a role", () => {
    const withRole = (s: TerraformStack) => {
      addProviders(s);
      return build(s);
    };

    expect(() => synthStack(withRole, { runValidations: true })).not.toThrow();
  });

  it.each(["http://10.0.0.50:6443", "10.0.0.50:6443", "https://", "https://k8s.keybuzz.io/api", "https://k8s keybuzz", ""])(
    "fails when the host is %j",
    (kubernetesHost) => {
      expect(() => synthKubernetes({ auth: { kubernetesHost } })).toThrow(
        `kubernetesHost must be an https URL such as https://10.0.0.50:6443, got "${kubernetesHost}"`,
      );
    },
  );

  it.each(["", "not a certificate", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])(
    "fails when the CA certificate is %j",
    (kubernetesCaCert) => {
      expect(() => synthKubernetes({ auth: { kubernetesCaCert } })).toThrow(
        "kubernetesCaCert must be a PEM certificate (-----BEGIN CERTIFICATE-----)",
      );
    },
  );

  it.each(["Kubernetes", "k8s/prod", ""])("fails when the path is %j", (path) => {
    expect(() => synthKubernetes({ auth: { path } })).toThrow(`path must be a Vault path segment, got "${path}"`);
  });

  it.each(["App", "app_1", "a/b", ""])("fails when the role name is %j", (name) => {
    expect(() => synthKubernetes({ name })).toThrow(`Kubernetes role "${name}": name must be a Vault path segment`);
  });

  it.each(["serviceAccounts", "namespaces"] as const)("fails when %s is empty", (field) => {
    expect(() => synthKubernetes({ [field]: [] })).toThrow(`Kubernetes role "app": ${field} must name at least one, got none`);
  });

  it.each([
    ["serviceAccounts", ""],
    ["serviceAccounts", "  "],
    ["namespaces", ""],
  ] as const)("fails when %s holds the empty name %j", (field, empty) => {
    expect(() => synthKubernetes({ [field]: ["keybuzz", empty] })).toThrow(
      `Kubernetes role "app": ${field} must not contain an empty or space-padded name, got "${empty}"`,
    );
  });

  it.each(["serviceAccounts", "namespaces"] as const)("fails when %s holds the wildcard and wildcards are forbidden", (field) => {
    expect(() => synthKubernetes({ auth: { forbidWildcards: true }, [field]: ["keybuzz", "*"] })).toThrow(
      `Kubernetes role "app": ${field} must not be the wildcard "*" here`,
    );
  });

  it("accepts named service accounts and namespaces when wildcards are forbidden", () => {
    expect(() => synthKubernetes({ auth: { forbidWildcards: true } })).not.toThrow();
  });

  it("fails when both service accounts and namespaces are the wildcard, even where wildcards are allowed", () => {
    expect(() => synthKubernetes({ serviceAccounts: ["*"], namespaces: ["*"] })).toThrow(
      'Kubernetes role "app": serviceAccounts and namespaces must not both be the wildcard "*"',
    );
  });

  it("fails when a role is added twice", () => {
    expect(() =>
      synthStack((s) => {
        const { auth, policy } = build(s);
        auth.addRole({ name: "app", policy, serviceAccounts: ["other"], namespaces: ["keybuzz"] });
      }),
    ).toThrow('Kubernetes role "app" is defined twice');
  });

  it.each([
    [{ tokenTtlSeconds: -1 }, "tokenTtlSeconds must be positive whole seconds, got -1"],
    [{ tokenTtlSeconds: 90000 }, "tokenTtlSeconds must not exceed the credentials' max TTL: 90000s > 86400s"],
    [{ tokenTtlSeconds: 7200, tokenMaxTtlSeconds: 3600 }, "tokenTtlSeconds must not exceed tokenMaxTtlSeconds: 7200s > 3600s"],
  ])("fails with the role's name when its TTLs are wrong (%j)", (ttls, message) => {
    expect(() => synthKubernetes(ttls)).toThrow(`Kubernetes role "app": ${message}`);
  });
});
