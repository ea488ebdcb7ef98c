import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TerraformStack, Testing } from "cdktf";
import { AgentConfig } from "../../constructs/agent-config";
import { KubernetesWorkload } from "../../constructs/kubernetes-workload";
import { loadEnvironments, parseEnvironment } from "../../stacks/environment";
import { KeybuzzStack, stackName } from "../../stacks/keybuzz-stack";
import { CA_PEM, resources, tempDir, testApp, type TfJson } from "../helpers";
import { APPLICATIONS, CONFIG_DIR, policiesOf } from "./keybuzz-stack.fixture";

describe("KeybuzzStack, with AppRole and Kubernetes auth", () => {
  // local.json binds every application to AppRole; pods of three of them log in with Kubernetes auth too.
  const KUBERNETES = ["keybuzz-api", "chatwoot", "n8n"];
  const dir = tempDir("auth-config");
  let json: TfJson;
  let stack: TerraformStack;
  beforeAll(() => {
    const data = JSON.parse(readFileSync(join(CONFIG_DIR, "local.json"), "utf8")) as TfJson;
    data.auth.kubernetes = {
      path: "k8s",
      host: "https://10.0.0.50:6443",
      caCertFile: "ca.pem",
      bindings: KUBERNETES.map((name) => ({
        application: name,
        serviceAccounts: [name],
        namespaces: ["keybuzz"],
        ...(name === "keybuzz-api" ? { audience: "vault" } : {}),
      })),
    };
    writeFileSync(join(dir.path, "local.json"), JSON.stringify(data));
    writeFileSync(join(dir.path, "ca.pem"), CA_PEM);
    const [config] = loadEnvironments(dir.path);
    stack = new KeybuzzStack(testApp(), stackName(config.name), { config });
    json = JSON.parse(Testing.synth(stack)) as TfJson;
  });
  afterAll(() => dir.remove());

  it("writes pod annotations for the applications bound to Kubernetes, and only for them", () => {
    const agents = stack.node.findAll().filter((c): c is AgentConfig => c instanceof AgentConfig);

    expect(
      agents
        .filter((a) => "kubernetes-annotations.yaml" in a.files)
        .map((a) => a.application)
        .sort(),
    ).toEqual([...KUBERNETES].sort());
    const api = agents.find((a) => a.application === "keybuzz-api")!.files["kubernetes-annotations.yaml"];
    expect(api).toContain('vault.hashicorp.com/auth-path: "auth/k8s"');
    expect(api).toContain('vault.hashicorp.com/role: "keybuzz-api"');
  });

  it("writes the cluster's manifests for the applications bound to Kubernetes, and only for them", () => {
    const workloads = stack.node.findAll().filter((c): c is KubernetesWorkload => c instanceof KubernetesWorkload);

    expect(workloads.map((w) => [w.node.path.split("/").at(-2), w.namespace, w.serviceAccount]).sort()).toEqual(
      [...KUBERNETES].sort().map((name) => [name, "keybuzz", name]),
    );
    for (const w of workloads) expect(Object.keys(w.files).sort()).toEqual(["deployment-patch.yaml", "job-patch.yaml", "kubernetes.yaml"]);
    const api = workloads.find((w) => w.serviceAccount === "keybuzz-api")!.files["deployment-patch.yaml"];
    expect(api).toContain('vault.hashicorp.com/auth-path: "auth/k8s"');
    expect(api).toContain('audience: "vault"');
  });

  it("passes cdktf's validations", () => {
    expect(() => Testing.synth(stack, true)).not.toThrow();
  });

  it("mounts both methods", () => {
    expect(resources(json, "vault_auth_backend")).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: "approle", path: "approle" }),
        expect.objectContaining({ type: "kubernetes", path: "k8s" }),
      ]),
    );
    expect(resources(json, "vault_auth_backend")).toHaveLength(2);
  });

  it("outputs, per application, its policy and where and as what it logs in with each method", () => {
    const outputs = json.output.applications.value as Record<string, { policy: string; auth: unknown }>;

    for (const app of APPLICATIONS) {
      expect(outputs[app.name].policy).toBe(app.vaultRole);
      expect(outputs[app.name].auth).toEqual({
        approle: { path: "auth/approle/login", role: app.name },
        ...(KUBERNETES.includes(app.name) ? { kubernetes: { path: "auth/k8s/login", role: app.name } } : {}),
      });
    }
  });

  it("gives every auth role exactly its own application's policy, and not Vault's default one", () => {
    const byApplication = Object.fromEntries(APPLICATIONS.map((a) => [a.name, a.vaultRole]));
    const approle = resources(json, "vault_approle_auth_backend_role");
    const kubernetes = resources(json, "vault_kubernetes_auth_backend_role");

    expect(approle.map((r) => r.role_name).sort()).toEqual(APPLICATIONS.map((a) => a.name).sort());
    expect(kubernetes.map((r) => r.role_name).sort()).toEqual([...KUBERNETES].sort());
    for (const role of [...approle, ...kubernetes]) {
      expect(policiesOf(json, role), String(role.role_name)).toEqual([byApplication[String(role.role_name)]]);
      expect(role.token_no_default_policy).toBe(true);
    }
  });

  it("binds each application's pods by service account and namespace", () => {
    expect(resources(json, "vault_kubernetes_auth_backend_role")).toEqual(
      [...KUBERNETES].sort().map((name) =>
        expect.objectContaining({
          role_name: name,
          bound_service_account_names: [name],
          bound_service_account_namespaces: ["keybuzz"],
          ...(name === "keybuzz-api" ? { audience: "vault" } : {}),
        }),
      ),
    );
    const chatwoot = resources(json, "vault_kubernetes_auth_backend_role").find((r) => r.role_name === "chatwoot");
    expect(chatwoot).not.toHaveProperty("audience");
  });

  it("trusts the CA file read beside the config, and keeps no token-reviewer JWT", () => {
    expect(resources(json, "vault_kubernetes_auth_backend_config")).toEqual([
      expect.objectContaining({ kubernetes_host: "https://10.0.0.50:6443", kubernetes_ca_cert: CA_PEM, disable_local_ca_jwt: true }),
    ]);
    expect(JSON.stringify(json)).not.toContain("token_reviewer_jwt");
  });

  it("refuses a wildcard binding in prod even when the config checks are bypassed", () => {
    // GIVEN local.json read as staging, with a wildcard service account (valid outside prod), then relabelled prod
    const data = JSON.parse(readFileSync(join(CONFIG_DIR, "local.json"), "utf8")) as TfJson;
    data.auth.kubernetes = {
      host: "https://10.0.0.50:6443",
      bindings: [{ application: "n8n", serviceAccounts: ["*"], namespaces: ["keybuzz"], workload: { serviceAccount: "n8n" } }],
    };
    const staging = parseEnvironment("staging", "config/staging.json", JSON.stringify(data));

    // THEN
    expect(() => new KeybuzzStack(testApp(), "keybuzz-staging", { config: staging })).not.toThrow();
    expect(() => new KeybuzzStack(testApp(), "keybuzz-prod", { config: { ...staging, name: "prod" } })).toThrow(
      'Kubernetes role "n8n": serviceAccounts must not be the wildcard "*" here',
    );
  });
});
