import { Construct } from "constructs";
import { describe, expect, it } from "vitest";
import { Application, type ApplicationProps } from "../../constructs/application";
import { AppRoleAuth } from "../../constructs/approle-auth";
import { Connection } from "../../constructs/connection";
import { KubernetesAuth } from "../../constructs/kubernetes-auth";
import { fixture, onlyResource, ref, resources, synthStack } from "../helpers";

const AGENT = {
  vaultAddress: "https://vault.example:8200",
  postgres: { host: "10.0.0.11", port: 5432, database: "keybuzz", sslmode: "verify-full" },
};

/** One application `api` (Vault role `api-db`, base role `app`), with `extra` props given the stack's auth methods. */
function synthApp(extra: (auth: { approle: AppRoleAuth; kubernetes: KubernetesAuth }) => Partial<ApplicationProps> = () => ({})) {
  return synthStack((stack) => {
    const f = fixture(stack);
    const connection = new Connection(stack, "Connection", { mount: f.mount, admin: f.admin, host: "10.0.0.11", port: 5432, database: "keybuzz" });
    const approle = new AppRoleAuth(stack, "AppRoleAuth", {});
    const kubernetes = new KubernetesAuth(stack, "KubernetesAuth", { kubernetesHost: "https://10.0.0.50:6443" });
    return new Application(new Construct(stack, "Applications"), "api", {
      connection,
      functions: f.functions,
      vaultRole: "api-db",
      baseRole: f.baseRoles.role("app"),
      ...extra({ approle, kubernetes }),
    });
  });
}

describe("Application", () => {
  it("is its dynamic role and the policy that reads only its credentials, with typed outputs", () => {
    const { json, built: app } = synthApp();

    const role = onlyResource(json, "vault_database_secret_backend_role");
    expect(role.name).toBe("api-db");
    expect(onlyResource(json, "vault_policy").name).toBe("api-db");
    expect(app.role.node.path).toBe("stack/Applications/api/DynamicRole");
    expect(app.policy.node.path).toBe("stack/Applications/api/Policy");
    expect(app.outputs).toEqual({ vault_role: "api-db", credentials_path: "database/creds/api-db", base_role: "app", policy: "api-db", auth: {} });
    expect(app.agent).toBeUndefined();
  });

  it("writes no moved block: an address history belongs to the stack that had it (stacks/moved.ts)", () => {
    expect(synthApp().json.moved).toBeUndefined();
  });

  it("adds its logins to the stack's auth methods, named after it and bound to its policy, and says where they are", () => {
    const { json, built: app } = synthApp(({ approle, kubernetes }) => ({
      approle: { auth: approle, secretIdTtlSeconds: 3600, cidrs: ["10.0.0.0/24"] },
      kubernetes: { auth: kubernetes, serviceAccounts: ["api"], namespaces: ["keybuzz"] },
    }));

    const approleRole = onlyResource(json, "vault_approle_auth_backend_role");
    expect(approleRole.role_name).toBe("api");
    expect(approleRole.token_policies).toEqual([ref(app.policy.resource)]);
    expect(onlyResource(json, "vault_kubernetes_auth_backend_role").role_name).toBe("api");
    expect(app.outputs.auth).toEqual({
      approle: { path: "auth/approle/login", role: "api" },
      kubernetes: { path: "auth/kubernetes/login", role: "api" },
    });
  });

  it("writes its agent's files only when it has a login", () => {
    const without = synthApp(() => ({ agent: AGENT })).built;
    const withLogin = synthApp(({ approle }) => ({ agent: AGENT, approle: { auth: approle, secretIdTtlSeconds: 3600, cidrs: [] } })).built;

    expect(without.agent).toBeUndefined();
    expect(withLogin.agent?.application).toBe("api");
    expect(withLogin.agent?.files["agent.hcl"]).toMatch(/role_id_file_path += "\/etc\/vault-agent\/api\/role-id"/);
  });

  it("grants each issued user its own base role first, then the additional ones", () => {
    const { json } = synthStack((stack) => {
      const f = fixture(stack, { roles: [{ name: "app" }, { name: "reader" }] });
      const connection = new Connection(stack, "Connection", { mount: f.mount, admin: f.admin, host: "10.0.0.11", port: 5432, database: "keybuzz" });
      return new Application(stack, "api", {
        connection,
        functions: f.functions,
        vaultRole: "api-db",
        baseRole: f.baseRoles.role("app"),
        additionalBaseRoles: [f.baseRoles.role("reader")],
      });
    });

    expect(resources(json, "vault_database_secret_backend_role")).toHaveLength(1);
    const create = resources(json, "postgresql_function").find((f) => f.name === "create_user");
    expect(create?.body).toContain("('api-db', 'app', ARRAY['app', 'reader']::pg_catalog.text[], 20, 86400)");
  });
});
