import { describe, expect, it } from "vitest";
import {
  ADMIN_USER,
  adminKubeconfig,
  agentConfig,
  deleteOptions,
  injectorRbac,
  injectorWebhook,
  isInjected,
  type KubeObject,
  kubeApiserverArgs,
  parseManifests,
  podManifest,
  resourcePaths,
  tokenRequestSpec,
} from "../../harness/kubernetes";

describe("parseManifests", () => {
  it("reads every document, skipping empty ones", () => {
    const objects = parseManifests(
      [
        "---",
        "apiVersion: v1",
        "kind: Namespace",
        "metadata: { name: apps }",
        "---",
        "---",
        "apiVersion: v1",
        "kind: ServiceAccount",
        "metadata:",
        "  name: api",
        "  namespace: apps",
        "",
      ].join("\n"),
    );
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(["Namespace/apps", "ServiceAccount/api"]);
    expect(objects[1].metadata.namespace).toBe("apps");
  });

  it("fails on invalid YAML", () => {
    expect(() => parseManifests("apiVersion: v1\nkind: [Pod\n")).toThrow(/^invalid YAML manifest: /);
  });

  it("fails on a document without apiVersion, kind or metadata", () => {
    expect(() => parseManifests("apiVersion: v1\nkind: Pod\n")).toThrow(
      'a manifest needs apiVersion, kind and metadata, got {"apiVersion":"v1","kind":"Pod"}',
    );
  });
});

describe("resourcePaths", () => {
  const core = [
    { name: "pods", kind: "Pod", namespaced: true },
    { name: "pods/status", kind: "Pod", namespaced: true },
    { name: "namespaces", kind: "Namespace", namespaced: false },
  ];

  it("puts a namespaced core object under its namespace", () => {
    expect(resourcePaths(core, { apiVersion: "v1", kind: "Pod", metadata: { name: "web-1", namespace: "apps" } })).toEqual({
      collection: "/api/v1/namespaces/apps/pods",
      item: "/api/v1/namespaces/apps/pods/web-1",
    });
  });

  it("puts a cluster-wide object of a group under /apis", () => {
    const rbac = [{ name: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false }];
    expect(resourcePaths(rbac, { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "x:y" } })).toEqual({
      collection: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
      item: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/x%3Ay",
    });
  });

  it("ignores subresources, which share their kind", () => {
    const statusFirst = [core[1], core[0]];
    expect(resourcePaths(statusFirst, { apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "n" } }).collection).toBe(
      "/api/v1/namespaces/n/pods",
    );
  });

  it("fails for a kind the API server does not serve, and for a namespaced object without a namespace", () => {
    expect(() => resourcePaths(core, { apiVersion: "v1", kind: "Widget", metadata: { name: "w" } })).toThrow(
      "the API server serves no kind Widget in v1",
    );
    expect(() => resourcePaths(core, { apiVersion: "v1", kind: "Pod", metadata: { name: "p" } })).toThrow(
      "Pod p is namespaced: metadata.namespace is missing",
    );
  });
});

describe("podManifest", () => {
  it("gives a Pod the default ServiceAccount and a placeholder container that is never pulled", () => {
    expect(podManifest("apps", { name: "web" })).toEqual({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web", namespace: "apps", labels: {}, annotations: {} },
      spec: { serviceAccountName: "default", containers: [{ name: "app", image: "registry.invalid/keybuzz/app:1" }] },
    });
  });

  it("schedules the Pod and sets its grace period only when asked", () => {
    const pod = podManifest("apps", {
      name: "web",
      serviceAccountName: "api",
      nodeName: "n1",
      terminationGracePeriodSeconds: 0,
      annotations: { a: "1" },
    });
    expect(pod.spec).toMatchObject({ serviceAccountName: "api", nodeName: "n1", terminationGracePeriodSeconds: 0 });
    expect(pod.metadata.annotations).toEqual({ a: "1" });
  });
});

describe("deleteOptions", () => {
  it("sends only the fields given", () => {
    expect(deleteOptions({})).toEqual({ apiVersion: "v1", kind: "DeleteOptions" });
    expect(deleteOptions({ gracePeriodSeconds: 0, uid: "u-1", propagationPolicy: "Foreground", waitGoneMs: 1000 })).toEqual({
      apiVersion: "v1",
      kind: "DeleteOptions",
      gracePeriodSeconds: 0,
      preconditions: { uid: "u-1" },
      propagationPolicy: "Foreground",
    });
  });
});

describe("tokenRequestSpec", () => {
  it("asks for an hour, for the API audiences, unbound, by default", () => {
    expect(tokenRequestSpec({})).toEqual({ expirationSeconds: 3600 });
  });

  it("asks for the audiences and the Pod binding given", () => {
    expect(tokenRequestSpec({ audiences: ["vault"], expirationSeconds: 600, boundPod: { name: "web", uid: "u-1" } })).toEqual({
      expirationSeconds: 600,
      audiences: ["vault"],
      boundObjectRef: { apiVersion: "v1", kind: "Pod", name: "web", uid: "u-1" },
    });
  });
});

describe("kubeApiserverArgs", () => {
  const input = {
    etcdUrl: "http://127.0.0.1:2379",
    port: 6443,
    serving: { certFile: "/k/kube-apiserver.crt", keyFile: "/k/kube-apiserver.key" },
    certDir: "/k/certs",
    tokenFile: "/k/tokens.csv",
    issuer: "https://127.0.0.1:6443",
    serviceAccountKey: "/k/service-account.key",
    apiAudiences: ["https://127.0.0.1:6443", "vault"],
    serviceClusterIpRange: "10.96.0.0/12",
  };

  it("serves on loopback only, with RBAC, the static token file and no endpoint reconciler", () => {
    const args = kubeApiserverArgs(input);
    expect(args).toEqual(
      expect.arrayContaining([
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--secure-port=6443",
        "--authorization-mode=RBAC",
        "--token-auth-file=/k/tokens.csv",
        "--endpoint-reconciler-type=none",
        "--etcd-servers=http://127.0.0.1:2379",
      ]),
    );
  });

  it("signs and checks ServiceAccount tokens with one key, for the audiences given", () => {
    const args = kubeApiserverArgs(input);
    expect(args).toContain("--service-account-key-file=/k/service-account.key");
    expect(args).toContain("--service-account-signing-key-file=/k/service-account.key");
    expect(args).toContain("--service-account-issuer=https://127.0.0.1:6443");
    expect(args).toContain("--api-audiences=https://127.0.0.1:6443,vault");
  });

  it("puts the extra flags last, so that they win", () => {
    expect(kubeApiserverArgs({ ...input, extraArgs: ["--profiling=true"] }).slice(-2)).toEqual(["--profiling=false", "--profiling=true"]);
  });
});

describe("isInjected", () => {
  const pod = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec });

  it("sees the injector's init container and sidecar", () => {
    expect(isInjected(pod({ initContainers: [{ name: "vault-agent-init" }], containers: [{ name: "app" }, { name: "vault-agent" }] }))).toBe(true);
  });

  it("needs both", () => {
    expect(isInjected(pod({ containers: [{ name: "app" }, { name: "vault-agent" }] }))).toBe(false);
    expect(isInjected(pod({ initContainers: [{ name: "vault-agent-init" }], containers: [{ name: "app" }] }))).toBe(false);
    expect(isInjected({ apiVersion: "v1", kind: "Pod", metadata: {} })).toBe(false);
  });
});

describe("agentConfig", () => {
  it("decodes VAULT_CONFIG's base64 JSON", () => {
    const config = { auto_auth: { method: { type: "kubernetes" } } };
    const container = {
      env: [
        { name: "OTHER", value: "x" },
        { name: "VAULT_CONFIG", value: Buffer.from(JSON.stringify(config)).toString("base64") },
      ],
    };
    expect(agentConfig(container)).toEqual(config);
  });

  it("is undefined for a container without it", () => {
    expect(agentConfig({ env: [{ name: "OTHER", value: "x" }] })).toBeUndefined();
    expect(agentConfig({})).toBeUndefined();
  });
});

describe("adminKubeconfig", () => {
  it("points at the server, verified with the CA, as the admin with its token", () => {
    const config = adminKubeconfig("https://127.0.0.1:6443", "/k/ca.crt", "admin-t") as Record<string, unknown>;
    expect(config).toEqual({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "keybuzz", cluster: { server: "https://127.0.0.1:6443", "certificate-authority": "/k/ca.crt" } }],
      users: [{ name: ADMIN_USER.name, user: { token: "admin-t" } }],
      contexts: [{ name: "keybuzz", context: { cluster: "keybuzz", user: ADMIN_USER.name } }],
      "current-context": "keybuzz",
    });
  });
});

describe("injectorRbac", () => {
  const [account, role, binding] = injectorRbac("vault-agent-injector", "vault");

  it("names the objects after the ServiceAccount, as the Helm chart does", () => {
    expect([account, role, binding].map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "ServiceAccount/vault-agent-injector",
      "ClusterRole/vault-agent-injector-clusterrole",
      "ClusterRoleBinding/vault-agent-injector-binding",
    ]);
    expect(account.metadata.namespace).toBe("vault");
  });

  it("lets it read and patch MutatingWebhookConfigurations only, bound to its ServiceAccount", () => {
    expect(role.rules).toEqual([
      { apiGroups: ["admissionregistration.k8s.io"], resources: ["mutatingwebhookconfigurations"], verbs: ["get", "list", "watch", "patch"] },
    ]);
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "vault-agent-injector-clusterrole" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "vault-agent-injector", namespace: "vault" }]);
  });
});

describe("injectorWebhook", () => {
  const config = injectorWebhook("vault-agent-injector-cfg", "https://127.0.0.1:9443", "-----BEGIN CERTIFICATE-----\n");
  const [hook] = config.webhooks as any[];

  it("calls the injector's /mutate by URL, trusting its CA", () => {
    expect(config.metadata.name).toBe("vault-agent-injector-cfg");
    expect(hook.clientConfig).toEqual({
      url: "https://127.0.0.1:9443/mutate",
      caBundle: Buffer.from("-----BEGIN CERTIFICATE-----\n").toString("base64"),
    });
  });

  it("mutates Pod creation only, and fails closed", () => {
    expect(hook.rules).toEqual([{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], scope: "Namespaced" }]);
    expect(hook.failurePolicy).toBe("Fail");
  });

  it("leaves the system namespaces and the injector's own Pods alone", () => {
    expect(hook.namespaceSelector.matchExpressions[0]).toEqual({
      key: "kubernetes.io/metadata.name",
      operator: "NotIn",
      values: ["kube-system", "kube-public"],
    });
    expect(hook.objectSelector.matchExpressions[0]).toEqual({ key: "app.kubernetes.io/name", operator: "NotIn", values: ["vault-agent-injector"] });
  });
});
