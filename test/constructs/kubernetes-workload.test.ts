import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { App, TerraformStack } from "cdktf";
import { parse, parseAllDocuments } from "yaml";
import { KubernetesWorkload, workloadProblems, type KubernetesWorkloadProps } from "../../constructs/kubernetes-workload";
import { testApp } from "../helpers";

const ROLE = { serviceAccounts: ["api"], namespaces: ["keybuzz", "keybuzz-canary"], audience: "vault" };
const ANNOTATIONS = {
  "vault.hashicorp.com/agent-inject": "true",
  "vault.hashicorp.com/role": "api",
  "vault.hashicorp.com/agent-inject-template-database": '{{ with secret "database/creds/api-db" -}}\nuser={{ .Data.username }}\n{{ end -}}\n',
};

type Options = Partial<Omit<KubernetesWorkloadProps, "application">>;

function workloadOf(options: Options = {}, stackName = "keybuzz-test"): KubernetesWorkload {
  const stack = new TerraformStack(testApp(), stackName);
  return new KubernetesWorkload(stack, "api", { application: "api", role: ROLE, annotations: ANNOTATIONS, ...options });
}

// parsed YAML, read field by field
type Yaml = any;
const documents = (text: string): Yaml[] => parseAllDocuments(text).map((d) => d.toJS());

describe("KubernetesWorkload", () => {
  it("writes the cluster's objects and the pod template patches, holding no secret", () => {
    expect(workloadOf().files).toMatchSnapshot();
  });

  it("gives each bound namespace the ServiceAccount and its right to have tokens reviewed", () => {
    const objects = documents(workloadOf({ role: { ...ROLE, serviceAccounts: ["api", "api-batch"] } }).files["kubernetes.yaml"]);

    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace ?? "-"}/${o.metadata.name}`)).toEqual([
      "ServiceAccount keybuzz/api",
      "ServiceAccount keybuzz/api-batch",
      "ClusterRoleBinding -/vault-tokenreview-keybuzz-api",
      "ServiceAccount keybuzz-canary/api",
      "ServiceAccount keybuzz-canary/api-batch",
      "ClusterRoleBinding -/vault-tokenreview-keybuzz-canary-api",
    ]);
    const binding = objects[2];
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:auth-delegator" });
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "api", namespace: "keybuzz" },
      { kind: "ServiceAccount", name: "api-batch", namespace: "keybuzz" },
    ]);
  });

  it("patches a Deployment's pod template: its account, a token for the role's audience, and the injector's annotations", () => {
    const patch = parse(workloadOf({ namespace: "keybuzz-canary", tokenExpirationSeconds: 1800 }).files["deployment-patch.yaml"]) as Yaml;
    const template = patch.spec.template;

    expect(template.spec).toEqual({
      serviceAccountName: "api",
      volumes: [
        { name: "vault-token", projected: { sources: [{ serviceAccountToken: { audience: "vault", expirationSeconds: 1800, path: "token" } }] } },
      ],
    });
    expect(template.metadata.annotations).toEqual({ ...ANNOTATIONS, "vault.hashicorp.com/agent-service-account-token-volume-name": "vault-token" });
    expect(workloadOf({ namespace: "keybuzz-canary" }).files["deployment-patch.yaml"]).toContain("-n keybuzz-canary");
  });

  it("patches a Job so that it completes: the init container only", () => {
    const job = parse(workloadOf().files["job-patch.yaml"]) as Yaml;
    const deployment = parse(workloadOf().files["deployment-patch.yaml"]) as Yaml;

    expect(job.spec.template.metadata.annotations).toEqual({
      ...deployment.spec.template.metadata.annotations,
      "vault.hashicorp.com/agent-pre-populate-only": "true",
    });
    expect(job.spec.template.spec).toEqual(deployment.spec.template.spec);
  });

  it("projects a token for the API server's own audience when the role requires none", () => {
    const patch = parse(workloadOf({ role: { ...ROLE, audience: undefined } }).files["deployment-patch.yaml"]) as Yaml;

    expect(patch.spec.template.spec.volumes).toEqual([
      { name: "vault-token", projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3600, path: "token" } }] } },
    ]);
  });

  it("writes multi-line annotations as literal blocks that read back unchanged", () => {
    const patch = parse(workloadOf().files["deployment-patch.yaml"]) as Yaml;

    expect(patch.spec.template.metadata.annotations["vault.hashicorp.com/agent-inject-template-database"]).toBe(
      ANNOTATIONS["vault.hashicorp.com/agent-inject-template-database"],
    );
  });

  it("writes its files into agent/<application>/ of the stack's folder when the app is synthesized", () => {
    const workload = workloadOf();
    const app = App.of(workload);

    app.synth();

    const dir = join(app.outdir, "stacks", "keybuzz-test", "agent", "api");
    expect(readdirSync(dir).sort()).toEqual(["deployment-patch.yaml", "job-patch.yaml", "kubernetes.yaml"]);
    for (const [name, text] of Object.entries(workload.files)) expect(readFileSync(join(dir, name), "utf8")).toBe(text);
  });

  it.each([
    [
      { namespace: "default" },
      "namespace \"default\" is not one of the role's namespaces (keybuzz, keybuzz-canary): Vault would refuse the pods' login",
    ],
    [{ serviceAccount: "chatwoot" }, 'serviceAccount "chatwoot" is not one of the role\'s service accounts (api)'],
    [{ audience: "https://kubernetes.default.svc" }, 'audience "https://kubernetes.default.svc" differs from the role\'s audience "vault"'],
    [{ tokenExpirationSeconds: 60 }, "tokenExpirationSeconds 60 must be at least 600 seconds"],
    [{ namespace: "Keybuzz" }, 'namespace "Keybuzz" must be a Kubernetes namespace name'],
    [{ role: { ...ROLE, namespaces: ["*"] } }, 'namespace "*" must be named: the role binds any namespace ("*"), so there is no default'],
  ])("fails on %j, naming the field and the value, and writes nothing", (options, message) => {
    const stack = new TerraformStack(testApp(), "keybuzz-refused");
    const make = () => new KubernetesWorkload(stack, "api", { application: "api", role: ROLE, annotations: ANNOTATIONS, ...(options as Options) });

    expect(make).toThrow(`Kubernetes workload of "api": ${message}`);
    const app = App.of(stack);
    expect(existsSync(join(app.outdir, "stacks", "keybuzz-refused", "agent"))).toBe(false);
  });

  it("takes a wildcard's pods once they are named", () => {
    const role = { ...ROLE, serviceAccounts: ["*"] };

    expect(workloadProblems(role, { serviceAccount: "api" })).toEqual([]);
    expect(workloadOf({ role, serviceAccount: "api" }).serviceAccount).toBe("api");
    // the chosen account is made and may have its tokens reviewed, in each bound namespace.
    const objects = documents(workloadOf({ role, serviceAccount: "api" }).files["kubernetes.yaml"]);
    expect(objects.filter((o) => o.kind === "ServiceAccount").map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      "keybuzz/api",
      "keybuzz-canary/api",
    ]);
  });
});
