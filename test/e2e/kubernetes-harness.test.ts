/**
 * The Kubernetes harness (harness/kubernetes.ts) against the real programs: etcd, kube-apiserver v1.37.2
 * and the Vault Agent Injector (vault-k8s 1.7.6), all on 127.0.0.1, built or found by `tools/build.sh
 * kube-apiserver etcd vault-k8s` in the e2e global setup. It proves what the Kubernetes suites will rely on: RBAC with the admin
 * token, ServiceAccount tokens bound to a Pod and checked by TokenReview for an audience, the injector
 * mutating an annotated Pod, what ends a Pod-bound token once its Pod is deleted, and that `stop()` leaves
 * nothing behind.
 *
 * Needs root (the injector runs in a private mount namespace; etcd is installed with apt-get when missing).
 * Outside CI, the suite skips, saying what is missing; in CI a missing piece fails it.
 */
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { e2eToolchain } from "./fixture/toolchain";
import { agentConfig, isInjected, KubernetesApiServer, type KubeBody, VaultInjector } from "../../harness/kubernetes";

const step = (msg: string) => process.stderr.write(`[e2e k8s] ${msg}\n`);

/** The namespace and ServiceAccount of an application, as the suites will make them. */
const NS = "keybuzz-apps";
const SA = "keybuzz-api";
/** The Vault address written into injected Pods (nothing runs in them: no traffic goes there). */
const VAULT_ADDRESS = "http://127.0.0.1:8200";

// the global setup builds or finds the tools (and fails in CI when it cannot); here they are waited for and used.
const toolchain = await e2eToolchain(import.meta.url);

describe("the Kubernetes harness: kube-apiserver, etcd and the Vault Agent Injector on 127.0.0.1", () => {
  let api: KubernetesApiServer | undefined;
  let injector: VaultInjector | undefined;
  let missing = "";

  beforeAll(async () => {
    const tools = toolchain?.kubernetes;
    if (!tools) {
      missing = "the Kubernetes tools (see the message above)";
      step(`skipped: missing ${missing}`);
      return;
    }
    api = await KubernetesApiServer.start({ kubeApiserver: tools.kubeApiserver, etcd: tools.etcd, log: step });
    injector = await VaultInjector.start({ vaultK8s: tools.vaultK8s, api, vaultAddress: VAULT_ADDRESS, log: step });
    await api.createNamespace(NS);
    await api.apply(`apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${SA}\n  namespace: ${NS}\n`);
  });

  afterAll(async () => {
    await injector?.stop();
    await api?.stop();
  });

  /** The running API server, or skips the test saying what is missing. */
  function server(ctx: TestContext): KubernetesApiServer {
    if (!api) return ctx.skip(`missing ${missing}`);
    return api;
  }

  it("serves v1.37.2 over TLS for 127.0.0.1 with RBAC: the admin may list secrets, a ServiceAccount may not", async (ctx) => {
    const k = server(ctx);
    const version = await k.request("GET", "/version");
    expect(version.body.gitVersion).toBe("v1.37.2");
    expect((await k.request("GET", `/api/v1/namespaces/${NS}/secrets`)).status).toBe(200);

    const { token } = await k.tokenRequest(NS, SA);
    const denied = await k.request("GET", `/api/v1/namespaces/${NS}/secrets`, undefined, token);

    expect(denied.status).toBe(403);
    expect(denied.body.message).toContain(`system:serviceaccount:${NS}:${SA}`);
  });

  it("issues a token bound to a Pod for the audience vault, which TokenReview accepts for [vault] only", async (ctx) => {
    const k = server(ctx);
    // GIVEN a Pod (stored Pending: there is no kubelet) and a token bound to it
    const pod = await k.createPod(NS, { name: "bound", serviceAccountName: SA });
    expect(pod.status).toMatchObject({ phase: "Pending" });
    const { token } = await k.tokenRequest(NS, SA, {
      audiences: ["vault"],
      expirationSeconds: 600,
      boundPod: { name: "bound", uid: pod.metadata.uid },
    });

    // WHEN TokenReview checks it for the audience vault, and for the API server's audiences
    const forVault = await k.tokenReview(token, ["vault"]);
    const forApi = await k.tokenReview(token);

    // THEN
    expect(forVault).toMatchObject({ authenticated: true, audiences: ["vault"], user: { username: `system:serviceaccount:${NS}:${SA}` } });
    expect(forVault.user?.extra?.["authentication.kubernetes.io/pod-name"]).toEqual(["bound"]);
    expect(forVault.user?.extra?.["authentication.kubernetes.io/pod-uid"]).toEqual([pod.metadata.uid]);
    expect(forApi.authenticated).toBeFalsy();
    expect(forApi.error).toContain("audience");
  });

  it("the injector adds vault-agent-init and vault-agent, with the agent's config, to an annotated Pod", async (ctx) => {
    const k = server(ctx);
    const pod = await k.createPod(NS, {
      name: "injected",
      serviceAccountName: SA,
      annotations: {
        "vault.hashicorp.com/agent-inject": "true",
        "vault.hashicorp.com/role": "keybuzz-api",
        "vault.hashicorp.com/agent-inject-secret-db": "database/creds/keybuzz-api-db",
      },
    });
    const spec = pod.spec as KubeBody;

    expect(isInjected(pod)).toBe(true);
    const init = spec.initContainers.find((c: KubeBody) => c.name === "vault-agent-init");
    const sidecar = spec.containers.find((c: KubeBody) => c.name === "vault-agent");
    for (const container of [init, sidecar]) {
      const config = agentConfig(container);
      expect(config?.vault).toMatchObject({ address: VAULT_ADDRESS });
      expect(config?.auto_auth.method).toMatchObject({ type: "kubernetes", mount_path: "auth/kubernetes", config: { role: "keybuzz-api" } });
      expect(config?.template).toEqual([expect.objectContaining({ destination: "/vault/secrets/db" })]);
    }
    expect(agentConfig(init)?.exit_after_auth).toBe(true);
    expect(pod.metadata.annotations?.["vault.hashicorp.com/agent-inject-status"]).toBe("injected");
  });

  it("the injector leaves a Pod without the annotation as it is", async (ctx) => {
    const k = server(ctx);
    const pod = await k.createPod(NS, { name: "plain", serviceAccountName: SA });

    expect(isInjected(pod)).toBe(false);
    expect((pod.spec as KubeBody).containers.map((c: KubeBody) => c.name)).toEqual(["app"]);
  });

  it("a deleted Pod's token is refused at once, except from TokenReview's cache of an earlier success (10 s)", async (ctx) => {
    const k = server(ctx);
    // GIVEN two tokens bound to one unscheduled Pod; only the first has been reviewed (and so cached)
    const pod = await k.createPod(NS, { name: "deleted", serviceAccountName: SA });
    const bound = { name: "deleted", uid: pod.metadata.uid };
    const reviewed = (await k.tokenRequest(NS, SA, { audiences: ["vault"], boundPod: bound })).token;
    const fresh = (await k.tokenRequest(NS, SA, { audiences: ["vault"], boundPod: bound })).token;
    expect((await k.tokenReview(reviewed, ["vault"])).authenticated).toBe(true);
    const cachedAt = Date.now();

    // WHEN the Pod is deleted (at once: it is not scheduled, so there is no grace period)
    await k.deletePod(NS, "deleted", { waitGoneMs: 10_000 });

    // THEN the unreviewed token is refused at once
    const refused = await k.tokenReview(fresh, ["vault"]);
    expect(refused.authenticated).toBeFalsy();
    expect(refused.error).toContain("has been invalidated");
    // the reviewed one still authenticates from the cache, for the same audiences only, until 10 s after its review
    expect((await k.tokenReview(reviewed, ["vault"])).authenticated).toBe(true);
    expect((await k.tokenReview(reviewed, ["vault", "other"])).authenticated).toBeFalsy();
    let lastAccepted = 0;
    while (Date.now() - cachedAt < 15_000) {
      if (!(await k.tokenReview(reviewed, ["vault"])).authenticated) break;
      lastAccepted = Date.now() - cachedAt;
      await new Promise((r) => setTimeout(r, 100));
    }
    step(`the reviewed token was last accepted ${lastAccepted} ms after its first review, its Pod deleted`);
    expect(lastAccepted).toBeLessThan(10_500);
    expect((await k.tokenReview(reviewed, ["vault"])).authenticated).toBeFalsy();
  });

  it("stop() deletes the webhook, kills the processes and removes every file", async (ctx) => {
    const k = server(ctx);
    const dir = k.dir;
    const webhook = injector!.webhookName;
    await injector!.stop();
    expect((await k.request("GET", `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhook}`)).status).toBe(404);
    // with the webhook gone (failurePolicy Fail), Pods are admitted again without it.
    expect(isInjected(await k.createPod(NS, { name: "after", annotations: { "vault.hashicorp.com/agent-inject": "true" } }))).toBe(false);

    await k.stop();

    expect(existsSync(dir)).toBe(false);
    await expect(k.request("GET", "/readyz")).rejects.toThrow(/ECONNREFUSED/);
  });
});
