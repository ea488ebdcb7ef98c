/**
 * `npm run sandbox`: the one-command way to see the stack work. Starts PostgreSQL and OpenBao (or Vault)
 * on free loopback ports, deploys `local` onto them with `cdktf deploy`, prints ready-to-paste commands,
 * and on {@link Sandbox.stop} (Ctrl-C) stops both servers and removes its folder. Two sandboxes can run
 * at once: nothing is shared but the tool cache.
 *
 * With `kubernetes` (`npm run sandbox -- --kubernetes`), also a real kube-apiserver and etcd on loopback
 * (harness/kubernetes.ts; no kubelet, Pods stay Pending), the stack's Kubernetes auth bound to it, and the
 * Vault Agent Injector registered as its mutating webhook: the commands then also apply the synthesized
 * manifests with kubectl, create a Pod and show it mutated, and log in to Vault with a token bound to it.
 *
 * With `monitoring` (`npm run sandbox -- --monitoring`), also the alerting pipeline (harness/monitoring.ts):
 * mtail on PostgreSQL's log with the synthesized program, the lease audit's textfile through the node exporter,
 * Prometheus with the synthesized rules, and Alertmanager, whose notifications the sandbox prints as they come.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { LocalDeployment } from "../harness/deployment";
import { MonitoringPipeline } from "../harness/monitoring";
import { LOGGED_SETTINGS } from "../harness/postgres";
import { KubernetesApiServer, VaultInjector } from "../harness/kubernetes";
import { LEASE_AUDIT_NAMES } from "../stacks/keybuzz-names";
import { cdktfCommand, localPaths, PROJECT_ROOT, type TfJson } from "../harness/stack";
import { startProcess, type Started } from "../harness/processes";
import {
  buildTools,
  findTools,
  MONITORING_TOOLS,
  monitoringFromManifest,
  onPath,
  postgresMajor,
  prepareKubernetes,
  type KubernetesTools,
  type SandboxTools,
} from "../harness/toolchain";

/** Options of {@link Sandbox}. */
export interface SandboxOptions {
  /** Also a kube-apiserver, the stack's Kubernetes auth bound to it, and the Vault Agent Injector (needs root). */
  readonly kubernetes?: boolean;
  /** Also mtail, the node exporter, Prometheus and Alertmanager, with the stack's log program and rules (needs root for apt). */
  readonly monitoring?: boolean;
}

/** The namespace the applications' ServiceAccounts and Pods are in, with --kubernetes. */
export const SANDBOX_NAMESPACE = "keybuzz";
/** The audience keybuzz-api's Kubernetes role requires (one of the API server's audiences), as the e2e suite binds it. */
export const VAULT_AUDIENCE = "vault";
/** The API server's own audience, and {@link VAULT_AUDIENCE}: what its tokens may be minted for. */
export const API_AUDIENCES = ["https://kubernetes.default.svc.cluster.local", VAULT_AUDIENCE] as const;
/** The Pod the --kubernetes instructions create, from keybuzz-api's deployment-patch.yaml. */
const POD_NAME = "keybuzz-api-0";

/** What --kubernetes started, for the instructions. */
interface KubernetesRun {
  readonly api: KubernetesApiServer;
  readonly injector: VaultInjector;
  /** The kubectl the instructions use: from PATH, or built. */
  readonly kubectl: string;
  readonly kubectlOnPath: boolean;
  /** The Pod manifest written into the sandbox's folder. */
  readonly podFile: string;
}

/**
 * `auth.kubernetes` of config/local.json for the API server `api`: every application bound to its own
 * ServiceAccount in {@link SANDBOX_NAMESPACE}, keybuzz-api's role requiring the audience "vault".
 */
export function kubernetesAuth(api: Pick<KubernetesApiServer, "url" | "caFile">, applications: readonly { name: string }[]): TfJson {
  return {
    host: api.url,
    caCertFile: api.caFile,
    bindings: applications.map(({ name }) => ({
      application: name,
      serviceAccounts: [name],
      namespaces: [SANDBOX_NAMESPACE],
      ...(name === "keybuzz-api" ? { audience: VAULT_AUDIENCE } : {}),
    })),
  };
}

/**
 * A ready Pod manifest from a synthesized `deployment-patch.yaml`: its `spec.template`'s metadata and spec,
 * named `name` in `namespace`, with one application container (never pulled: there is no kubelet).
 */
export function podFromPatch(patchYaml: string, name: string, namespace: string): TfJson {
  const template = (parseYaml(patchYaml) as TfJson).spec.template;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { ...template.metadata, name, namespace },
    spec: { ...template.spec, containers: [{ name: "app", image: "registry.invalid/keybuzz/app:1" }] },
  };
}

/** Thrown by {@link Sandbox.start} when {@link Sandbox.stop} was called while it was starting. */
export class SandboxStopped extends Error {
  constructor() {
    super("the sandbox was stopped while it was starting");
  }
}

/** A sandbox being set up, running, or stopped. */
export class Sandbox {
  private env?: LocalDeployment;
  private api?: KubernetesApiServer;
  private injector?: VaultInjector;
  private kube?: KubernetesRun;
  private monitoring?: MonitoringPipeline;
  private deploying?: Started;
  private stopping = false;
  /** The step {@link start} is in, for {@link stop} to wait for. */
  private current: Promise<unknown> = Promise.resolve();
  private tools?: SandboxTools;
  private resources = 0;
  private deploySeconds = 0;

  constructor(
    private readonly progress: (line: string) => void,
    private readonly options: SandboxOptions = {},
  ) {}

  /** Runs one step of {@link start}; throws {@link SandboxStopped} once {@link stop} was called. */
  private async step<T>(work: () => Promise<T>): Promise<T> {
    if (this.stopping) throw new SandboxStopped();
    const p = work();
    this.current = p.catch(() => undefined);
    const result = await p;
    if (this.stopping) throw new SandboxStopped();
    return result;
  }

  /**
   * Finds or builds the tools, starts the servers and deploys `local`. Throws if a step fails (call
   * {@link stop} to clean up), or {@link SandboxStopped} when stopped meanwhile.
   */
  async start(): Promise<void> {
    const kubernetes = this.options.kubernetes === true;
    if (kubernetes && process.getuid?.() !== 0) {
      throw new Error(
        "--kubernetes needs root: the Vault Agent Injector (vault-k8s) runs in a private mount namespace (unshare --mount) " +
          "to find its ServiceAccount token where it looks for it. Run it as root (e.g. sudo), or without --kubernetes.",
      );
    }
    const tools = await this.step(() => findTools((line) => this.progress(line)));
    this.tools = tools;
    for (const origin of tools.origins) this.progress(origin);
    let k8s: { tools: KubernetesTools; kubectl: string; kubectlOnPath: boolean } | undefined;
    if (kubernetes) k8s = await this.step(() => this.kubernetesTools());
    // assigned inside the step, so that a stop() waiting for it finds the servers to stop.
    const api = k8s
      ? await this.step(async () => {
          this.progress("starting etcd and kube-apiserver on 127.0.0.1");
          this.api = await KubernetesApiServer.start({
            kubeApiserver: k8s.tools.kubeApiserver,
            etcd: k8s.tools.etcd,
            log: (line) => this.progress(line),
            apiAudiences: API_AUDIENCES,
          });
          return this.api;
        })
      : undefined;
    const env = await this.step(async () => {
      this.env = await LocalDeployment.start({
        server: { major: postgresMajor(tools.pgBinDir), binDir: tools.pgBinDir },
        vaultBinary: tools.server,
        tools: { engine: tools.engine, cliConfig: tools.cliConfig },
        // what the stack's log program needs (monitoring/postgresql-log.mtail), with or without --monitoring.
        postgres: { settings: LOGGED_SETTINGS },
        log: "[sandbox]",
        ...(api ? { patchConfig: (config: TfJson) => (config.auth.kubernetes = kubernetesAuth(api, config.applications)) } : {}),
      });
      return this.env;
    });
    this.progress("cdktf deploy keybuzz-local (synth, init, apply: about 20 s)");
    const started = Date.now();
    // the config for these servers' ports, and the synthesized outputs the instructions name; cdktf then
    // deploys that output as it is (--skip-synth) instead of synthesizing it a second time.
    await this.step(() => env.synth());
    const line = cdktfCommand("deploy", env.dir, env.credentials, ["--skip-synth"]);
    // progress, not the whole plan: what is being created, and anything that goes wrong.
    const progressLines = /Initializing|Plan:|Creation complete|Apply complete|Error|error|Warning/;
    this.deploying = startProcess(line.command, line.args, { cwd: line.cwd, env: line.env, echo: "[sandbox] cdktf |", echoOnly: progressLines });
    const deploying = this.deploying;
    const code = await this.step(() => deploying.exited);
    this.deploying = undefined;
    if (code !== 0) {
      const tail = deploying.output().trimEnd().split("\n").slice(-40).join("\n");
      throw new Error(`cdktf deploy keybuzz-local failed (exit ${code}); the end of its output:\n${tail}`);
    }
    this.resources = Number(/Apply complete! Resources: (\d+) added/.exec(deploying.output())?.[1] ?? 0);
    this.deploySeconds = (Date.now() - started) / 1000;
    if (this.options.monitoring) await this.step(() => this.startMonitoring(env));
    if (api && k8s) {
      this.progress("starting the Vault Agent Injector (vault-k8s) and registering its webhook");
      const injector = await this.step(async () => {
        this.injector = await VaultInjector.start({
          vaultK8s: k8s.tools.vaultK8s,
          api,
          vaultAddress: env.vault.address,
          log: (line) => this.progress(line),
          parentDir: env.dir,
        });
        return this.injector;
      });
      await this.step(() => api.createNamespace(SANDBOX_NAMESPACE));
      const patch = readFileSync(join(env.stackDir, "agent", "keybuzz-api", "deployment-patch.yaml"), "utf8");
      const podFile = join(env.dir, "keybuzz-api-pod.yaml");
      writeFileSync(podFile, stringifyYaml(podFromPatch(patch, POD_NAME, SANDBOX_NAMESPACE)));
      this.kube = { api, injector, kubectl: k8s.kubectl, kubectlOnPath: k8s.kubectlOnPath, podFile };
    }
  }

  /** The alerting pipeline on the deployed stack's log program and rules; the lease audit's textfile written once. */
  private async startMonitoring(env: LocalDeployment): Promise<MonitoringPipeline> {
    this.progress("building or finding in the tool cache: Prometheus, Alertmanager, mtail, the node exporter (Debian's packages)");
    const { tools, missing } = monitoringFromManifest(await buildTools(MONITORING_TOOLS, (line) => this.progress(line)));
    if (!tools) throw new Error(`--monitoring: ${missing}`);
    this.monitoring = await MonitoringPipeline.forDeployment(env, tools, (line) => this.progress(line));
    return this.monitoring;
  }

  /** kube-apiserver, etcd and vault-k8s (tools/build.sh, cached), and kubectl: from PATH, else built. */
  private async kubernetesTools(): Promise<{ tools: KubernetesTools; kubectl: string; kubectlOnPath: boolean }> {
    this.progress("building or finding in the tool cache: kube-apiserver, etcd, vault-k8s (tools/build.sh; the first time takes long)");
    const { tools, missing } = await prepareKubernetes((line) => this.progress(line));
    if (!tools) throw new Error(`--kubernetes: ${missing}`);
    const found = onPath("kubectl");
    if (found) {
      this.progress(`kubectl: ${found} (from PATH)`);
      return { tools, kubectl: found, kubectlOnPath: true };
    }
    this.progress("kubectl is not on PATH: building it, or finding it in the tool cache (tools/build.sh kubectl)");
    const { kubectl } = await buildTools(["kubectl"], (line) => this.progress(line));
    if (!kubectl) throw new Error("--kubernetes: tools/build.sh kubectl gave no kubectl in its manifest");
    this.progress(`kubectl: ${kubectl} (built)`);
    return { tools, kubectl, kubectlOnPath: false };
  }

  /** Whether {@link stop} was called. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** What to paste into another terminal, once {@link start} has finished. */
  instructions(): string {
    const env = this.env!;
    const tools = this.tools!;
    const cli = env.vault.cli;
    const prefix = cli.toUpperCase();
    const onPathAlready = onPath(cli) === tools.server;
    const psql = onPath("psql") || !existsSync(join(tools.pgBinDir, "psql")) ? "psql" : join(tools.pgBinDir, "psql");
    const helper = join(PROJECT_ROOT, "sandbox", "creds-env.mjs");
    const apps = (env.tf.output.applications.value ?? {}) as Record<string, { credentials_path: string; base_role?: string }>;
    const apiBase = apps["keybuzz-api"]?.base_role ?? "keybuzz_api";
    const lines = [
      `Sandbox ready: ${env.vault.label} on ${env.vault.address}, PostgreSQL ${env.pg.serverVersion.split(" ")[1]} on 127.0.0.1:${env.pg.port};`,
      `keybuzz-local deployed with cdktf (${this.resources} resources, ${this.deploySeconds.toFixed(0)} s).`,
      `Folder ${env.dir} and processes ${env.vault.product} ${env.vault.pid}, PostgreSQL ${env.pg.pid}: all removed when you stop it.`,
      "",
      "Paste into another terminal:",
      "",
      `  export ${prefix}_ADDR=${env.vault.address} ${prefix}_TOKEN=${env.vault.rootToken}   # this throwaway server's root token`,
      ...(onPathAlready ? [] : [`  export PATH="${dirname(tools.server)}:$PATH"   # the ${cli} built for the sandbox`]),
      `  export PGHOST=127.0.0.1 PGPORT=${env.pg.port} PGDATABASE=${env.databaseName}`,
      "",
      "  # credentials for each application: a new PostgreSQL user in its base role, with a 1 h lease",
      ...Object.values(apps).map((a) => `  ${cli} read ${a.credentials_path}`),
      "",
      "  # one keybuzz-api credential into PGUSER, PGPASSWORD and LEASE_ID; log in; renew; revoke",
      `  eval "$(${cli} read -format=json ${apps["keybuzz-api"]?.credentials_path ?? "database/creds/keybuzz-api-db"} | node ${helper})"`,
      `  PGOPTIONS='-c role=${apiBase}' ${psql} -c 'SELECT session_user, current_user'   # role set at login: what it creates is ${apiBase}'s`,
      `  ${cli} lease renew "$LEASE_ID"`,
      `  ${cli} lease revoke -sync "$LEASE_ID"   # -sync: done when it returns (the CLI queues it otherwise)`,
      `  ${psql} -c 'SELECT 1'   # refused now: the revocation dropped the user`,
      "",
      "  # the lease audit: Vault's leases held against PostgreSQL's users, with a token that may only audit",
      `  KEYBUZZ_CONFIG_DIR=${localPaths(env.dir).configDir} VAULT_TOKEN="$(${cli} token create -policy=${LEASE_AUDIT_NAMES.auditPolicy} -no-default-policy -ttl=1h -field=token)" npm --prefix ${PROJECT_ROOT} run --silent leases -- --env local`,
      "",
      ...(this.kube ? this.kubernetesInstructions(this.kube, env, cli, apps) : []),
      ...(this.monitoring ? this.monitoringInstructions(this.monitoring, env, cli, psql) : []),
      "Stop with Ctrl-C.",
    ];
    return `${lines.join("\n")}\n`;
  }

  /** The --monitoring part of {@link instructions}: where to look, and one command that makes an alert fire. */
  private monitoringInstructions(m: MonitoringPipeline, env: LocalDeployment, cli: string, psql: string): string[] {
    const audit = `KEYBUZZ_CONFIG_DIR=${localPaths(env.dir).configDir} VAULT_TOKEN="$(${cli} token create -policy=${LEASE_AUDIT_NAMES.auditPolicy} -no-default-policy -ttl=1h -field=token)"`;
    return [
      `Monitoring: Prometheus http://${m.addresses.prometheus} (alerts: /alerts), Alertmanager http://${m.addresses.alertmanager},`,
      `mtail http://${m.addresses.mtail}/metrics on PostgreSQL's log ${env.pg.logDirectory}; notifications are printed here as they come.`,
      "",
      "  # chatwoot logs in with a wrong password: KeybuzzApplicationLoginFailing{application=chatwoot} within about 30 s",
      `  PGPASSWORD=wrong ${psql} -U "$(${cli} read -field=username database/creds/chatwoot-db)" -c 'SELECT 1'`,
      "  # the lease audit into the node exporter's textfile folder, as a timer runs it (a user made by hand: KeybuzzOrphanUsers)",
      `  ${audit} npm --prefix ${PROJECT_ROOT} run --silent leases -- --env local --format prometheus --output ${join(m.textfileDir, "keybuzz_leases.prom")}`,
      `  curl -s http://${m.addresses.prometheus}/api/v1/alerts   # what Prometheus has firing`,
      "",
    ];
  }

  /** The --kubernetes part of {@link instructions}: kubectl against the API server, a mutated Pod, a login with its token. */
  private kubernetesInstructions(
    kube: KubernetesRun,
    env: LocalDeployment,
    cli: string,
    apps: Record<string, { credentials_path: string }>,
  ): string[] {
    const { api, injector } = kube;
    const prefix = cli.toUpperCase();
    const creds = (name: string, role: string) => apps[name]?.credentials_path ?? `database/creds/${role}`;
    const manifest = (name: string) => join(env.stackDir, "agent", name, "kubernetes.yaml");
    return [
      `Kubernetes: kube-apiserver on ${api.url} (no kubelet: Pods are admitted and stored, and stay Pending), folder ${api.dir};`,
      `the Vault Agent Injector on ${injector.url}, its webhook registered; Vault's auth/kubernetes bound to namespace ${SANDBOX_NAMESPACE}.`,
      "",
      `  export KUBECONFIG=${api.kubeconfig} KUBECACHEDIR=${join(env.dir, "kube-cache")}   # admin of this throwaway API server`,
      ...(kube.kubectlOnPath ? [] : [`  export PATH="${dirname(kube.kubectl)}:$PATH"   # the kubectl built for the sandbox`]),
      "",
      "  # the synthesized manifests: each application's ServiceAccount, and its right to review tokens",
      ...Object.keys(apps).map((name) => `  kubectl apply -f ${manifest(name)}`),
      "",
      `  # a Pod from keybuzz-api's deployment-patch.yaml; the injector adds Vault Agent to it as it is created`,
      `  kubectl apply -f ${kube.podFile}`,
      `  kubectl get pod ${POD_NAME} -n ${SANDBOX_NAMESPACE} -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}{"\\n"}'   # vault-agent-init app vault-agent`,
      "",
      "  # what its Vault Agent does: log in with a token bound to the Pod, for the audience keybuzz-api's role requires",
      `  JWT=$(kubectl create token keybuzz-api -n ${SANDBOX_NAMESPACE} --audience ${VAULT_AUDIENCE} --bound-object-kind Pod --bound-object-name ${POD_NAME})`,
      `  ${cli} write auth/kubernetes/login role=keybuzz-api jwt="$JWT"   # a token with the policy keybuzz-api-db`,
      `  APP_TOKEN=$(${cli} write -field=token auth/kubernetes/login role=keybuzz-api jwt="$JWT")`,
      `  ${prefix}_TOKEN="$APP_TOKEN" ${cli} read ${creds("keybuzz-api", "keybuzz-api-db")}`,
      `  ${prefix}_TOKEN="$APP_TOKEN" ${cli} read ${creds("chatwoot", "chatwoot-db")}   # refused: another application's`,
      "",
    ];
  }

  /**
   * Stops everything and removes the folder; safe at any point, and twice. A deploy under way is
   * interrupted as Ctrl-C would (SIGINT to its process group), then killed if it does not stop in 20 s.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const deploying = this.deploying;
    if (deploying) {
      this.progress("interrupting cdktf deploy");
      deploying.signal("SIGINT");
      const killer = setTimeout(() => deploying.signal("SIGKILL"), 20_000);
      await deploying.exited.catch(() => undefined);
      clearTimeout(killer);
    }
    // a step under way (finding tools, starting servers) ends before its results are cleaned up.
    await this.current;
    // the injector first (it unregisters its webhook from the API server), the API server last; each
    // even when one before it failed to stop.
    const failures: unknown[] = [];
    const attempt = async (work: () => Promise<void>) => {
      try {
        await work();
      } catch (err) {
        failures.push(err);
      }
    };
    const monitoring = this.monitoring;
    if (monitoring) {
      this.progress("stopping Prometheus, Alertmanager, mtail and the node exporter");
      await attempt(() => monitoring.stop());
    }
    const injector = this.injector;
    if (injector) {
      this.progress("stopping the Vault Agent Injector");
      await attempt(() => injector.stop());
    }
    const env = this.env;
    if (env) {
      this.progress(`stopping ${env.vault?.product ?? "the server"} and PostgreSQL, removing ${env.dir}`);
      await attempt(() => env.stop());
    }
    const api = this.api;
    if (api) {
      this.progress(`stopping kube-apiserver and etcd, removing ${api.dir}`);
      await attempt(() => api.stop());
    }
    if (failures.length > 0) throw failures[0];
  }
}
