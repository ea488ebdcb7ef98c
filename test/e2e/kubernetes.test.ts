/**
 * Pods get their credentials through Kubernetes, for real: a kube-apiserver and etcd on 127.0.0.1 (no
 * kubelet: Pods are stored and mutated, never run), the `local` stack deployed by OpenTofu with its
 * Kubernetes binding pointed at that API server, the synthesized manifests applied, and the real Vault
 * Agent Injector (vault-k8s) registered as a mutating webhook by URL — on OpenBao and on HashiCorp Vault.
 *
 * Checked, on both servers:
 * - each application's Pod, created from its synthesized `deployment-patch.yaml`, is mutated by the injector
 *   (init container and sidecar, its role, its template); the `job-patch.yaml` variant gets the init
 *   container only, so a Job can complete;
 * - a token bound to that Pod, for the role's audience, logs in through a real TokenReview; the Vault token
 *   carries the application's policy only; it reads its own credentials, which log in to PostgreSQL as its
 *   base role, and is refused another application's;
 * - refused, by Vault's answer and with no lease or user made: another ServiceAccount, another namespace,
 *   a token for another audience, and any token once the ServiceAccount's `system:auth-delegator` binding
 *   (the reviewer right) is removed; and a deleted Pod's token, measured until the API server stops
 *   authenticating it;
 * - the agent configuration the injector put into the Pod, run as its sidecar would be (paths remapped to a
 *   temp folder, the projected token minted with TokenRequest): the credentials render, the small
 *   application stays connected while they rotate, and the sidecar's preStop (revoke-on-shutdown) leaves
 *   no lease and no user.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalDeployment } from "../../harness/deployment";
import { KubernetesApiServer, VaultInjector } from "../../harness/kubernetes";
import { API_AUDIENCES, kubernetesAuth, podFromPatch, SANDBOX_NAMESPACE, VAULT_AUDIENCE } from "../../sandbox/sandbox";
import { freePort, run, startProcess, waitFor, type Started } from "../../harness/processes";
import type { KubernetesFigures } from "../../figures/contract";
import { figureParts } from "./fixture/figures";
import { VAULT_SERVERS } from "./fixture/servers";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);
const record = figureParts("kubernetes");

const APPS = ["keybuzz-api", "chatwoot", "n8n", "workers"] as const;
const NAMESPACE = SANDBOX_NAMESPACE;
/** The API server's own audience; keybuzz-api's role requires VAULT_AUDIENCE, the others' none (as the sandbox binds them). */
const [API_AUDIENCE] = API_AUDIENCES;
const DEFAULT_TTL = 20;
const MAX_TTL = 60;
/** How long the application runs on the injected agent's credentials: more than one max TTL. */
const RUN_SECONDS = 75;
const APP_SCRIPT = join(__dirname, "fixture", "rotating-app.mjs");

// parsed YAML and JSON, read field by field
type Json = any;

/** The JSON agent configuration the injector put into a container (its VAULT_CONFIG, base64). */
function injectedConfig(container: Json): Json {
  const env = (container.env as { name: string; value: string }[]).find((e) => e.name === "VAULT_CONFIG");
  if (!env) throw new Error(`container ${container.name} has no VAULT_CONFIG`);
  return JSON.parse(Buffer.from(env.value, "base64").toString("utf8"));
}

describe.skipIf(!toolchain?.kubernetes)("Kubernetes: pods log in with their ServiceAccount tokens and get their credentials injected", () => {
  it.concurrent.each(VAULT_SERVERS.map((s) => ({ ...s, binary: toolchain?.[s.key] ?? "" })))(
    "$label: manifests, logins, refusals, the injector and a rotating application",
    async ({ label, binary }) => {
      const k8s = toolchain!.kubernetes!;
      const work = mkdtempSync(join(tmpdir(), "keybuzz-k8s-e2e-"));
      chmodSync(work, 0o711);
      const log = (line: string) => process.stderr.write(`[e2e kubernetes ${label}] ${line}\n`);
      let api: KubernetesApiServer | undefined;
      let injector: VaultInjector | undefined;
      let env: LocalDeployment | undefined;
      let agent: Started | undefined;
      let app: Started | undefined;
      let f: KubernetesFigures | undefined;
      try {
        // as a cluster that lets pods have tokens for Vault: its own audience, and "vault".
        api = await KubernetesApiServer.start({
          kubeApiserver: k8s.kubeApiserver,
          etcd: k8s.etcd,
          parentDir: work,
          log,
          apiAudiences: API_AUDIENCES,
        });
        const cluster = api;
        const pidFile = join(work, "app.pid");
        env = await LocalDeployment.start({
          server: toolchain!.postgres[0],
          vaultBinary: binary,
          tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
          log: `[e2e kubernetes ${label}]`,
          patchConfig: (config) => {
            // each application's own ServiceAccount in keybuzz; keybuzz-api's role requires the audience "vault".
            config.auth.kubernetes = kubernetesAuth(cluster, config.applications);
            for (const a of config.applications) {
              a.defaultTtl = `${DEFAULT_TTL}s`;
              a.maxTtl = `${MAX_TTL}s`;
              // the application switches to new credentials on SIGHUP (fixture/rotating-app.mjs).
              if (a.name === "keybuzz-api") a.agent = { command: ["/bin/sh", "-c", `[ ! -f ${pidFile} ] || kill -HUP "$(cat ${pidFile})"`] };
            }
          },
        });
        const e = env;
        await e.deploy();
        const vaultRole = (name: string) => `${name}-db`;
        const files = (name: string, file: string) => readFileSync(join(e.stackDir, "agent", name, file), "utf8");

        injector = await VaultInjector.start({ vaultK8s: k8s.vaultK8s, api: cluster, vaultAddress: e.vault.address, log, parentDir: work });

        // ---------------------------------------------------------------- the synthesized manifests, applied
        await cluster.createNamespace(NAMESPACE);
        for (const name of APPS) await cluster.apply(files(name, "kubernetes.yaml"));

        // each application's Pod, mutated by the real injector as it is created.
        const pods: Record<string, Json> = {};
        for (const name of APPS) {
          const pod = await cluster.call<Json>(
            "POST",
            `/api/v1/namespaces/${NAMESPACE}/pods`,
            podFromPatch(files(name, "deployment-patch.yaml"), `${name}-0`, NAMESPACE),
            [201],
          );
          pods[name] = pod;
          expect(pod.metadata.annotations["vault.hashicorp.com/agent-inject-status"]).toBe("injected");
          expect(pod.spec.initContainers.map((c: Json) => c.name)).toEqual(["vault-agent-init"]);
          expect(pod.spec.containers.map((c: Json) => c.name)).toEqual(["app", "vault-agent"]);
          const sidecar = pod.spec.containers[1];
          const config = injectedConfig(sidecar);
          const method = config.auto_auth.method;
          expect(method).toMatchObject({
            type: "kubernetes",
            mount_path: "auth/kubernetes",
            config: { role: name, token_path: "/var/run/secrets/vault.hashicorp.com/serviceaccount/token" },
          });
          expect(config.vault.address).toBe(e.vault.address);
          expect(config.template).toHaveLength(1);
          expect(config.template[0].destination).toBe(
            `/vault/secrets/${name === "chatwoot" ? "chatwoot.env" : name === "n8n" ? "n8n.env" : "pg_service.conf"}`,
          );
          expect(config.template[0].contents).toContain(`{{ with secret "database/creds/${vaultRole(name)}" -}}`);
          // revoke-on-shutdown: the sidecar's preStop revokes its token, and with it the credentials.
          expect(sidecar.lifecycle.preStop.exec.command.join(" ")).toContain("token revoke");
          // the projected token for the role's audience is what the agent logs in with.
          expect(pod.spec.volumes.find((v: Json) => v.name === "vault-token").projected.sources[0].serviceAccountToken.audience).toBe(
            name === "keybuzz-api" ? VAULT_AUDIENCE : undefined,
          );
        }
        // the Job variant: the init container only, so the Job can complete.
        const job = await cluster.call<Json>(
          "POST",
          `/api/v1/namespaces/${NAMESPACE}/pods`,
          podFromPatch(files("workers", "job-patch.yaml"), "workers-job-0", NAMESPACE),
          [201],
        );
        expect(job.spec.initContainers.map((c: Json) => c.name)).toEqual(["vault-agent-init"]);
        expect(job.spec.containers.map((c: Json) => c.name)).toEqual(["app"]);
        expect(injectedConfig(job.spec.initContainers[0]).exit_after_auth).toBe(true);

        // ---------------------------------------------------------------- logins with Pod-bound tokens
        // as the kubelet projects it: for the role's audience (keybuzz-api), else the API server's own.
        const podToken = async (
          name: string,
          pod = pods[name],
          audiences = name === "keybuzz-api" ? [VAULT_AUDIENCE] : undefined,
          namespace = NAMESPACE,
          serviceAccount = name,
        ) =>
          (
            await cluster.tokenRequest(namespace, serviceAccount, {
              audiences,
              expirationSeconds: 600,
              boundPod: { name: pod.metadata.name, uid: pod.metadata.uid },
            })
          ).token;
        const login = (role: string, jwt: string) => e.v("PUT", "auth/kubernetes/login", { role, jwt }, "");
        for (const name of APPS) {
          const res = await login(name, await podToken(name));
          expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(200);
          expect(res.body.auth.policies).toEqual([vaultRole(name)]);
          expect(res.body.auth.metadata).toMatchObject({ service_account_name: name, service_account_namespace: NAMESPACE });
          const token = res.body.auth.client_token as string;
          const creds = await e.v("GET", `database/creds/${vaultRole(name)}`, undefined, token);
          expect(creds.status).toBe(200);
          const base = (
            await e.pg.query<{ rolname: string }>(
              "SELECT b.rolname FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member JOIN pg_roles b ON b.oid = m.roleid WHERE u.rolname = $1",
              [creds.body.data.username],
            )
          ).map((r) => r.rolname);
          expect(base.length).toBeGreaterThanOrEqual(1);
          expect(await e.pg.tryLogin(e.databaseName, creds.body.data.username, creds.body.data.password)).toEqual({ ok: true });
          const other = APPS.find((a) => a !== name)!;
          const refused = await e.v("GET", `database/creds/${vaultRole(other)}`, undefined, token);
          expect(refused.status).toBe(403);
        }

        // ---------------------------------------------------------------- what must be refused
        const issued = async () => ({ leases: (await e.outstandingLeases(vaultRole("keybuzz-api"))).length, users: (await e.dynamicRoles()).length });
        const before = await issued();
        const refusedLogin = async (what: string, jwt: string, says: RegExp) => {
          const res = await login("keybuzz-api", jwt);
          log(`refused (${what}): ${res.status} ${JSON.stringify(res.body.errors)}`);
          expect({ what, status: res.status }).toEqual({ what, status: 403 });
          expect(JSON.stringify(res.body.errors), what).toMatch(says);
          expect(res.body.auth, what).toBeUndefined();
        };
        // another ServiceAccount (one that may have its tokens reviewed), in the right namespace.
        await cluster.apply([
          { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "intruder", namespace: NAMESPACE } },
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: "intruder-tokenreview" },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:auth-delegator" },
            subjects: [{ kind: "ServiceAccount", name: "intruder", namespace: NAMESPACE }],
          },
        ]);
        const intruder = await cluster.createPod(NAMESPACE, { name: "intruder-0", serviceAccountName: "intruder" });
        await refusedLogin("another service account", await podToken("intruder", intruder, [VAULT_AUDIENCE]), /service account name not authorized/);
        // the application's ServiceAccount name, in another namespace.
        await cluster.createNamespace("elsewhere");
        await cluster.apply(
          files("keybuzz-api", "kubernetes.yaml")
            .replaceAll(`namespace: "${NAMESPACE}"`, 'namespace: "elsewhere"')
            .replaceAll(`vault-tokenreview-${NAMESPACE}-`, "vault-tokenreview-elsewhere-"),
        );
        const elsewhere = await cluster.createPod("elsewhere", { name: "keybuzz-api-0", serviceAccountName: "keybuzz-api" });
        await refusedLogin("another namespace", await podToken("keybuzz-api", elsewhere, [VAULT_AUDIENCE], "elsewhere"), /namespace not authorized/);
        // the right Pod, for another audience than the role's (the API server accepts it: Vault's own check refuses it).
        await refusedLogin(
          "another audience",
          await podToken("keybuzz-api", pods["keybuzz-api"], [API_AUDIENCE]),
          /audience|invalid|permission denied/,
        );
        // the reviewer right removed: Vault's TokenReview, made with the pod's own token, is forbidden.
        const binding = `vault-tokenreview-${NAMESPACE}-keybuzz-api`;
        await cluster.call("DELETE", `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${binding}`);
        const valid = await podToken("keybuzz-api");
        await waitFor(
          "the login to be refused without system:auth-delegator",
          async () => (await login("keybuzz-api", valid)).status === 403,
          15_000,
        );
        await refusedLogin("no system:auth-delegator", valid, /permission denied|forbidden|tokenreviews/i);
        await cluster.apply(files("keybuzz-api", "kubernetes.yaml"));
        await waitFor("the login to work again with the binding back", async () => (await login("keybuzz-api", valid)).status === 200, 15_000);
        // none of the refused attempts made a lease or a user (the accepted login above reads no credentials).
        expect(await issued()).toEqual(before);

        // a deleted Pod's token: accepted until the API server stops authenticating it.
        const doomed = await cluster.createPod(NAMESPACE, { name: "keybuzz-api-doomed", serviceAccountName: "keybuzz-api" });
        const doomedToken = await podToken("keybuzz-api", doomed);
        const doomedLogin = await login("keybuzz-api", doomedToken);
        expect(doomedLogin.status).toBe(200);
        await cluster.deletePod(NAMESPACE, "keybuzz-api-doomed", { waitGoneMs: 30_000 });
        const deletedAt = Date.now();
        await waitFor("the deleted Pod's token to be refused", async () => (await login("keybuzz-api", doomedToken)).status === 403, 120_000);
        const acceptedForS = (Date.now() - deletedAt) / 1000;
        log(`a deleted Pod's token logged in for ${acceptedForS.toFixed(1)} s after the Pod was gone`);
        // the Vault token it got before stays valid until its own TTL: deleting a Pod revokes nothing in Vault.
        const stillValid = await e.v("GET", "auth/token/lookup-self", undefined, doomedLogin.body.auth.client_token);
        expect(stillValid.status).toBe(200);
        await e.v("PUT", "auth/token/revoke-self", {}, doomedLogin.body.auth.client_token);

        // ---------------------------------------------------------------- the injected agent, run for real
        // what the logins above read goes first, so that what is left at the end is the agent's alone.
        await e.v("PUT", "sys/leases/revoke-prefix/database/creds", {});
        await waitFor("no issued user left before the agent starts", async () => (await e.dynamicRoles()).length === 0, 30_000);
        // the Pod's two agents as the kubelet would run them, one after the other: the init container (renders,
        // fills the shared cache, exits), then the sidecar (takes the cache: the same token and lease).
        const pod = pods["keybuzz-api"];
        const init = pod.spec.initContainers.find((c: Json) => c.name === "vault-agent-init");
        const sidecar = pod.spec.containers.find((c: Json) => c.name === "vault-agent");
        const home = join(work, "home-vault");
        const secrets = join(work, "vault-secrets");
        const tokenDir = join(work, "serviceaccount");
        const cacheDir = join(work, "agent-cache");
        for (const dir of [home, secrets, tokenDir, cacheDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
        // the projected token (the role's audience) and the pod's default one (the API server's), both bound to it.
        writeFileSync(join(tokenDir, "token"), await podToken("keybuzz-api"), { mode: 0o600 });
        writeFileSync(join(tokenDir, "default-token"), await podToken("keybuzz-api", pod, undefined), { mode: 0o600 });
        const listener = await freePort();
        /** A container's agent configuration with the pod's paths moved into `work`, written to a file. */
        const remap = (container: Json): string => {
          const remapped = JSON.parse(
            JSON.stringify(injectedConfig(container))
              .replaceAll("/var/run/secrets/vault.hashicorp.com/serviceaccount", tokenDir)
              .replaceAll("/vault/secrets", secrets)
              .replaceAll("/home/vault", home)
              .replaceAll("/vault/agent-cache", cacheDir),
          );
          for (const l of remapped.listener ?? []) l.address = `127.0.0.1:${listener}`;
          // the shared cache reads the pod's default token, at its default path (not in the config).
          if (remapped.cache?.persist) remapped.cache.persist.service_account_token_file = join(tokenDir, "default-token");
          const file = join(home, `${container.name}.json`);
          writeFileSync(file, JSON.stringify(remapped), { mode: 0o600 });
          return file;
        };
        const agentEnv = { PATH: process.env.PATH, HOME: home };
        const initRun = await run(binary, ["agent", `-config=${remap(init)}`], { env: agentEnv });
        expect(initRun.code, `${initRun.stdout}${initRun.stderr}`).toBe(0);
        const rendered = join(secrets, "pg_service.conf");
        expect(existsSync(rendered)).toBe(true);
        const renderedUser = () => /^user=(.*)$/m.exec(readFileSync(rendered, "utf8"))?.[1];
        const initUser = renderedUser();
        expect(await e.outstandingLeases(vaultRole("keybuzz-api")), "the init container's lease").toHaveLength(1);
        // then the kubelet starts the pod's containers together: the application, on what the init container
        // rendered, and the sidecar, which takes the init container's cache (the same token and lease).
        app = startProcess(process.execPath, [APP_SCRIPT], {
          cwd: join(__dirname, "..", ".."),
          env: { PATH: process.env.PATH, PGSERVICEFILE: rendered, PGSERVICE: "keybuzz-api", APP_PID_FILE: pidFile },
        });
        await waitFor("the application to connect with the init container's credentials", async () =>
          (app?.output() ?? "").includes(`"event":"connected","user":"${initUser}"`),
        );
        agent = startProcess(binary, ["agent", `-config=${remap(sidecar)}`], { env: agentEnv });
        await waitFor("the sidecar's template runner to start", async () => /\(runner\) starting/.test(agent?.output() ?? ""), 30_000).catch(
          (err) => {
            throw new Error(`${(err as Error).message}\n${agent?.output()}`);
          },
        );
        // a sidecar that missed the cache fetches new credentials at once and renders them; give it the time to.
        await waitFor("a render by the sidecar", async () => /\(runner\) rendered/.test(agent?.output() ?? ""), 5_000).catch(() => undefined);
        // the sidecar went on with the credentials the init container rendered: one lease for the pod, not two.
        expect(renderedUser(), agent.output()).toBe(initUser);
        expect(await e.outstandingLeases(vaultRole("keybuzz-api")), agent.output()).toHaveLength(1);
        log(`the application runs ${RUN_SECONDS} s on the injected agent's credentials; leases ${DEFAULT_TTL} s, max ${MAX_TTL} s`);
        await new Promise((r) => setTimeout(r, RUN_SECONDS * 1000));
        const events = app
          .output()
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as { t: number; event: string; ok?: boolean; user?: string; role?: string; error?: string });
        const queries = events.filter((ev) => ev.event === "query");
        const okTimes = queries.filter((q) => q.ok).map((q) => q.t);
        const users = new Set(events.filter((ev) => ev.event === "connected").map((ev) => ev.user));
        f = {
          server: e.vault.label,
          deletedPodTokenAcceptedForS: acceptedForS,
          queries: queries.length,
          failed: queries.filter((q) => !q.ok).length,
          longestGapMs: Math.max(...okTimes.slice(1).map((t, i) => t - okTimes[i])),
          users: users.size,
        };
        expect(users.size, agent.output()).toBeGreaterThanOrEqual(2);
        expect(users.has(initUser)).toBe(true);
        expect(queries.filter((q) => !q.ok).map((q) => `${q.user}: ${q.error}`)).toEqual([]);
        expect(queries.filter((q) => q.ok).every((q) => q.role === "keybuzz_api")).toBe(true);
        expect(f.longestGapMs).toBeLessThan(2000);

        // the pod stops: the sidecar's preStop revokes its token (remapped to this machine), then SIGTERM.
        app.signal("SIGTERM");
        await app.exited;
        const preStop = (sidecar.lifecycle.preStop.exec.command as string[]).map((arg) =>
          arg.replace("/bin/vault", binary).replace(/\/bin\/sleep \d+/, "/bin/sleep 1"),
        );
        const revoked = await run(preStop[0], preStop.slice(1), { env: agentEnv });
        expect(revoked.code, `${revoked.stdout}${revoked.stderr}`).toBe(0);
        agent.signal("SIGTERM");
        await agent.exited;
        await waitFor("no issued user left", async () => (await e.dynamicRoles()).length === 0, 15_000).catch(() => undefined);
        expect(await e.dynamicRoles()).toEqual([]);
        expect(await e.outstandingLeases(vaultRole("keybuzz-api"))).toEqual([]);
        expect(await e.irrevocableLeases()).toBe(0);
        record(label, f);
      } finally {
        app?.signal("SIGKILL");
        agent?.signal("SIGKILL");
        await injector?.stop().catch(() => undefined);
        await env?.stop();
        await api?.stop();
        rmSync(work, { recursive: true, force: true });
        if (f) {
          process.stderr.write(
            `[e2e kubernetes] ${f.server}: deleted Pod's token accepted ${f.deletedPodTokenAcceptedForS.toFixed(1)} s; ${f.queries} queries, ${f.failed} failed, longest gap ${f.longestGapMs} ms, ${f.users} users\n`,
          );
        }
      }
    },
    900_000,
  );
});
