/**
 * A real Kubernetes API server on loopback, for proving Vault's Kubernetes auth and the Vault Agent
 * Injector against the real thing: etcd ({@link EtcdServer}) and `kube-apiserver`
 * ({@link KubernetesApiServer}) on free 127.0.0.1 ports, and the real `vault-k8s agent-inject` webhook
 * ({@link VaultInjector}) registered with it. No kubelet, no controller manager, no scheduler: objects are
 * stored and admitted (ServiceAccount admission, RBAC, mutating webhooks, TokenRequest, TokenReview), Pods
 * stay Pending, and nothing runs in them. Every address is 127.0.0.1; the service CIDR is a setting only.
 *
 * The binaries come from `tools/build.sh kube-apiserver etcd vault-k8s` (`prepareKubernetes()` in
 * harness/toolchain.ts). Each `start` removes what it made when it fails half-way; `stop` kills the processes
 * and removes every file.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { ThrowawayCa } from "./ca";
import { freePort, type Started, startProcess, waitFor } from "./processes";

/** Where a line of progress goes. */
export type Log = (line: string) => void;

/** An object's metadata, as far as the harness reads it; the rest passes through. */
export interface KubeMetadata {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  [field: string]: unknown;
}

/** A Kubernetes object (a manifest, or what the API server returns). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMetadata;
  [field: string]: unknown;
}

/** The answer of an API call: HTTP status and parsed JSON body (a `Status` object for most errors). */
export interface KubeResponse<T = KubeBody> {
  readonly status: number;
  readonly body: T;
}

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, read field by field where it is used
export type KubeBody = Record<string, any>;

/** What TokenReview says about a token (`status` of an authentication.k8s.io/v1 TokenReview). */
export interface TokenReviewStatus {
  readonly authenticated?: boolean;
  readonly user?: { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  /** The audiences the token was found valid for (the requested ones it holds, or the API audiences). */
  readonly audiences?: string[];
  readonly error?: string;
}

/** A token issued by TokenRequest. */
export interface IssuedToken {
  readonly token: string;
  readonly expirationTimestamp: string;
}

/** The tail of a process's output, for failure messages. */
function tail(label: string, child: Started | undefined, lines = 20): string {
  return child ? `--- ${label}\n${child.output().trim().split("\n").slice(-lines).join("\n")}` : "";
}

/** Waits for `child` to exit after SIGTERM, then SIGKILLs its group if it takes longer than `ms`. */
async function terminate(child: Started | undefined, ms = 10_000): Promise<void> {
  if (!child) return;
  child.signal("SIGTERM");
  const done = await Promise.race([child.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  if (!done) {
    child.signal("SIGKILL");
    await child.exited;
  }
}

/** Rejects when `child` exits (it should not, while we wait for it to come up); the caller adds its output. */
function exitedEarly(label: string, child: Started): Promise<never> {
  return child.exited.then((code) => {
    throw new Error(`${label} exited with ${code} while starting`);
  });
}

/** Options of {@link EtcdServer.start}. */
export interface EtcdOptions {
  /** The `etcd` binary (Debian's etcd-server: `tools/build.sh etcd`). */
  readonly etcd: string;
  /** The folder its data goes in (made if missing; the caller removes it). */
  readonly dataDir: string;
}

/** A one-member etcd on two free 127.0.0.1 ports (client and peer), plain HTTP, for one API server. */
export class EtcdServer {
  /** The client URL, e.g. `http://127.0.0.1:40123`. */
  public readonly clientUrl: string;

  private constructor(
    private readonly child: Started,
    port: number,
  ) {
    this.clientUrl = `http://127.0.0.1:${port}`;
  }

  /** Starts etcd and waits until `/health` says so; kills it again if it does not come up. */
  static async start(options: EtcdOptions): Promise<EtcdServer> {
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    // a clean environment: etcd reads ETCD_* variables as flags.
    const child = startProcess(
      options.etcd,
      [
        "--name=keybuzz-k8s",
        `--data-dir=${options.dataDir}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=keybuzz-k8s=${peer}`,
        "--initial-cluster-state=new",
        "--log-level=warn",
      ],
      { env: { PATH: process.env.PATH } },
    );
    const etcd = new EtcdServer(child, clientPort);
    try {
      await Promise.race([waitFor(`etcd on ${client}`, async () => (await fetch(`${client}/health`)).ok, 30_000), exitedEarly("etcd", child)]);
    } catch (err) {
      await etcd.stop();
      throw new Error(`${(err as Error).message}\n${etcd.logTail()}`);
    }
    return etcd;
  }

  /** The end of its output. */
  logTail(lines?: number): string {
    return tail("etcd", this.child, lines);
  }

  /** Stops it (its data folder stays for the caller to remove); safe twice. */
  async stop(): Promise<void> {
    await terminate(this.child);
  }
}

/** Options of {@link KubernetesApiServer.start}. */
export interface KubernetesApiServerOptions {
  /** The `kube-apiserver` binary (`tools/build.sh kube-apiserver`). */
  readonly kubeApiserver: string;
  /** The `etcd` binary (`tools/build.sh etcd`). */
  readonly etcd: string;
  /** Where its temp folder goes. @default the system temp folder */
  readonly parentDir?: string;
  /** Progress lines. @default - none */
  readonly log?: Log;
  /**
   * `--api-audiences`: the audiences a token must hold to authenticate to the API server, and those a
   * TokenRequest without audiences gets.
   * @default - the service account issuer alone, as kube-apiserver does when the flag is unset
   */
  readonly apiAudiences?: readonly string[];
  /** `--service-cluster-ip-range`: a setting only; nothing here routes to it. @default "10.96.0.0/12" */
  readonly serviceClusterIpRange?: string;
  /** More kube-apiserver flags, e.g. `--service-account-max-token-expiration=1h`. @default - none */
  readonly extraArgs?: readonly string[];
}

/** A Pod as {@link KubernetesApiServer.createPod} makes it. */
export interface PodOptions {
  readonly name: string;
  /** @default "default" */
  readonly serviceAccountName?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  /** @default - one container "app", image "registry.invalid/keybuzz/app:1" (never pulled: there is no kubelet) */
  readonly containers?: readonly Record<string, unknown>[];
  /**
   * A node name, which makes the Pod scheduled: its deletion is then graceful (it waits for a kubelet that
   * never comes) instead of immediate. No Node object is needed.
   * @default - unscheduled (Pending, no node)
   */
  readonly nodeName?: string;
  /** @default - Kubernetes's (30) */
  readonly terminationGracePeriodSeconds?: number;
}

/** Options of {@link KubernetesApiServer.deletePod}. */
export interface DeletePodOptions {
  /** `gracePeriodSeconds` (ignored by the API server for an unscheduled Pod: deleted at once). @default - the Pod's */
  readonly gracePeriodSeconds?: number;
  /** Only delete the Pod with this UID (a precondition). @default - any */
  readonly uid?: string;
  /** @default - the API server's ("Background" for Pods) */
  readonly propagationPolicy?: "Orphan" | "Background" | "Foreground";
  /** Wait until the Pod is gone (404), at most this many milliseconds. @default - do not wait */
  readonly waitGoneMs?: number;
}

/** Options of {@link KubernetesApiServer.tokenRequest}. */
export interface TokenRequestOptions {
  /** @default - the API audiences */
  readonly audiences?: readonly string[];
  /** @default 3600 */
  readonly expirationSeconds?: number;
  /** Bind the token to this Pod: it is invalidated when the Pod is deleted. @default - not bound */
  readonly boundPod?: { readonly name: string; readonly uid?: string };
}

/** kube-apiserver's `--service-cluster-ip-range` here. */
export const SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/12";

/** The admin identity of the static token file (its group is all-powerful, as a cluster's admin's is). */
export const ADMIN_USER = { name: "keybuzz-admin", group: "system:masters" } as const;

/** What {@link kubeApiserverArgs} builds kube-apiserver's command line from. */
export interface KubeApiserverArgsInput {
  readonly etcdUrl: string;
  /** The secure port, on 127.0.0.1. */
  readonly port: number;
  /** The serving certificate and key. */
  readonly serving: { readonly certFile: string; readonly keyFile: string };
  readonly certDir: string;
  /** The static token file (the admin's token). */
  readonly tokenFile: string;
  /** `--service-account-issuer`. */
  readonly issuer: string;
  /** The key ServiceAccount tokens are signed and checked with. */
  readonly serviceAccountKey: string;
  readonly apiAudiences: readonly string[];
  readonly serviceClusterIpRange: string;
  /** More flags, last. */
  readonly extraArgs?: readonly string[];
}

/** kube-apiserver's flags: loopback only, TLS, RBAC, the static admin token, ServiceAccount tokens, no endpoint reconciler. */
export function kubeApiserverArgs(o: KubeApiserverArgsInput): string[] {
  return [
    `--etcd-servers=${o.etcdUrl}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${o.port}`,
    `--tls-cert-file=${o.serving.certFile}`,
    `--tls-private-key-file=${o.serving.keyFile}`,
    `--cert-dir=${o.certDir}`,
    "--authorization-mode=RBAC",
    `--token-auth-file=${o.tokenFile}`,
    `--service-account-issuer=${o.issuer}`,
    `--service-account-key-file=${o.serviceAccountKey}`,
    `--service-account-signing-key-file=${o.serviceAccountKey}`,
    `--api-audiences=${o.apiAudiences.join(",")}`,
    `--service-cluster-ip-range=${o.serviceClusterIpRange}`,
    // nothing writes 127.0.0.1 into the `kubernetes` Service's endpoints (a setting, as the CIDR is).
    "--endpoint-reconciler-type=none",
    "--profiling=false",
    ...(o.extraArgs ?? []),
  ];
}

/**
 * etcd and kube-apiserver on free 127.0.0.1 ports, serving TLS with a certificate for 127.0.0.1 from a
 * throwaway CA, RBAC authorization, a static admin token (group `system:masters`), ServiceAccount tokens
 * signed with a key made for it, and no endpoint reconciler (nothing lists 127.0.0.1 as the `kubernetes`
 * Service's endpoint). Also a typed JSON client and the few operations the suites need.
 *
 * There is no controller manager: {@link createNamespace} (and {@link apply} of a Namespace) also makes the
 * namespace's `default` ServiceAccount and `kube-root-ca.crt` ConfigMap, as its controllers would; a deleted
 * namespace stays Terminating.
 * @see https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/
 */
export class KubernetesApiServer {
  /** `https://127.0.0.1:<port>`. */
  public url = "";
  public port = 0;
  /** The CA that signed the serving certificate (PEM text and file): what clients trust. */
  public caPem = "";
  public caFile = "";
  /** A kubeconfig file (server, CA, admin token): `kubectl --kubeconfig <file>`. */
  public readonly kubeconfig: string;
  /** A bearer token of {@link ADMIN_USER} (group system:masters). */
  public readonly adminToken = `admin-${randomBytes(24).toString("hex")}`;
  /** `--service-account-issuer` (the `iss` of every ServiceAccount token): the server's own URL. */
  public serviceAccountIssuer = "";
  /** `--api-audiences`. */
  public apiAudiences: readonly string[] = [];
  /** The temp folder of everything it made (keys, certificates, etcd data, kubeconfig). */
  public readonly dir: string;

  private ca?: ThrowawayCa;
  private etcd?: EtcdServer;
  private process?: Started;
  private readonly discovery = new Map<string, Promise<KubeBody[]>>();

  private constructor(private readonly options: KubernetesApiServerOptions) {
    this.dir = mkdtempSync(join(options.parentDir ?? tmpdir(), "keybuzz-k8s-"));
    chmodSync(this.dir, 0o700);
    this.kubeconfig = join(this.dir, "kubeconfig");
  }

  /** Starts etcd and the API server and waits for `/readyz`; stops both and removes the folder if that fails. */
  static async start(options: KubernetesApiServerOptions): Promise<KubernetesApiServer> {
    const server = new KubernetesApiServer(options);
    try {
      await server.startAll();
    } catch (err) {
      const logs = server.logTail();
      await server.stop();
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
    return server;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async startAll(): Promise<void> {
    const t0 = Date.now();
    this.ca = await ThrowawayCa.create(this.dir);
    this.caFile = this.ca.certFile;
    this.caPem = this.ca.cert;
    const serving = await this.ca.issue("kube-apiserver", { ips: ["127.0.0.1"] });

    const saKey = join(this.dir, "service-account.key");
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    writeFileSync(saKey, privateKey.export({ type: "pkcs1", format: "pem" }), { mode: 0o600 });
    const tokens = join(this.dir, "tokens.csv");
    writeFileSync(tokens, `${this.adminToken},${ADMIN_USER.name},${ADMIN_USER.name},"${ADMIN_USER.group}"\n`, { mode: 0o600 });

    this.etcd = await EtcdServer.start({ etcd: this.options.etcd, dataDir: join(this.dir, "etcd") });

    this.port = await freePort();
    this.url = `https://127.0.0.1:${this.port}`;
    this.serviceAccountIssuer = this.url;
    this.apiAudiences = this.options.apiAudiences ?? [this.serviceAccountIssuer];
    const certDir = join(this.dir, "certs");
    mkdirSync(certDir, { mode: 0o700 });
    this.process = startProcess(
      this.options.kubeApiserver,
      kubeApiserverArgs({
        etcdUrl: this.etcd.clientUrl,
        port: this.port,
        serving,
        certDir,
        tokenFile: tokens,
        issuer: this.serviceAccountIssuer,
        serviceAccountKey: saKey,
        apiAudiences: this.apiAudiences,
        serviceClusterIpRange: this.options.serviceClusterIpRange ?? SERVICE_CLUSTER_IP_RANGE,
        extraArgs: this.options.extraArgs,
      }),
      { cwd: this.dir, env: { PATH: process.env.PATH, HOME: this.dir } },
    );
    await Promise.race([
      waitFor(
        `kube-apiserver on ${this.url}/readyz`,
        async () => {
          const res = await this.request("GET", "/readyz");
          return res.status === 200;
        },
        180_000,
      ),
      exitedEarly("kube-apiserver", this.process),
    ]);
    this.writeKubeconfig();
    // Pods in `default` need its ServiceAccount (ServiceAccount admission), which no controller makes here.
    await this.namespaceDefaults("default");
    this.log(`kube-apiserver on ${this.url} (etcd ${this.etcd.clientUrl}) ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  private writeKubeconfig(): void {
    writeFileSync(this.kubeconfig, stringify(adminKubeconfig(this.url, this.caFile, this.adminToken)), { mode: 0o600 });
  }

  /**
   * Calls the API (`path` from the root, e.g. `/api/v1/namespaces`) over TLS checked against the CA, as the
   * admin unless `token` is given; JSON in and out (a PATCH body is a JSON merge patch). Never throws on an
   * HTTP error status.
   */
  request<T = KubeBody>(method: string, path: string, body?: unknown, token: string = this.adminToken): Promise<KubeResponse<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const contentType = method === "PATCH" ? "application/merge-patch+json" : "application/json";
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port: this.port,
          path,
          method,
          ca: this.caPem,
          headers: {
            Accept: "application/json",
            Authorization: `Bearer ${token}`,
            ...(payload === undefined ? {} : { "Content-Type": contentType, "Content-Length": Buffer.byteLength(payload) }),
          },
          timeout: 30_000,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => {
            let parsed: unknown = {};
            if (text) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = { message: text };
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** Like {@link request}, but throws (with the API's message) unless the status is one of `ok`. */
  async call<T = KubeBody>(method: string, path: string, body?: unknown, ok: readonly number[] = [200, 201, 202]): Promise<T> {
    const res = await this.request<T>(method, path, body);
    if (!ok.includes(res.status)) {
      throw new Error(`${method} ${path}: ${res.status} ${statusMessage(res.body)}`);
    }
    return res.body;
  }

  /** The resources of `apiVersion` ("v1", "rbac.authorization.k8s.io/v1"), from discovery (once per version). */
  private resources(apiVersion: string): Promise<KubeBody[]> {
    let found = this.discovery.get(apiVersion);
    if (!found) {
      found = this.call<KubeBody>("GET", apiVersion === "v1" ? "/api/v1" : `/apis/${apiVersion}`).then((b) => b.resources as KubeBody[]);
      found.catch(() => this.discovery.delete(apiVersion));
      this.discovery.set(apiVersion, found);
    }
    return found;
  }

  /**
   * The REST path of the collection of `object`'s kind (in its namespace, when the kind is namespaced), and
   * of the object itself: `/api/v1/namespaces/ns/pods`, `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/name`.
   */
  async pathOf(object: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): Promise<{ collection: string; item: string }> {
    return resourcePaths(await this.resources(object.apiVersion), object);
  }

  /**
   * Creates each object, or replaces it when it exists (PUT with its resourceVersion; an object whose
   * change the API server refuses as immutable, a Pod's spec say, is deleted at once and created again).
   * Takes objects or YAML text (several documents). Returns the objects as stored. A Namespace also gets
   * its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap (see the class comment).
   */
  async apply(manifests: string | KubeObject | readonly KubeObject[]): Promise<KubeObject[]> {
    const objects = typeof manifests === "string" ? parseManifests(manifests) : Array.isArray(manifests) ? manifests : [manifests as KubeObject];
    const applied: KubeObject[] = [];
    for (const object of objects) {
      applied.push(await this.applyOne(object));
      if (object.kind === "Namespace" && object.apiVersion === "v1") await this.namespaceDefaults(object.metadata.name ?? "");
    }
    return applied;
  }

  private async applyOne(object: KubeObject): Promise<KubeObject> {
    const { collection, item } = await this.pathOf(object);
    const created = await this.request<KubeObject>("POST", collection, object);
    if (created.status === 201 || created.status === 200) return created.body;
    if (created.status !== 409) throw new Error(`create ${object.kind} ${object.metadata.name}: ${created.status} ${statusMessage(created.body)}`);
    const existing = await this.call<KubeObject>("GET", item);
    const replaced = await this.request<KubeObject>("PUT", item, {
      ...object,
      metadata: { ...object.metadata, resourceVersion: existing.metadata.resourceVersion },
    });
    if (replaced.status === 200 || replaced.status === 201) return replaced.body;
    if (replaced.status !== 422)
      throw new Error(`replace ${object.kind} ${object.metadata.name}: ${replaced.status} ${statusMessage(replaced.body)}`);
    await this.call("DELETE", `${item}?gracePeriodSeconds=0`, undefined, [200, 202, 404]);
    await waitFor(`${object.kind} ${object.metadata.name} to be gone`, async () => (await this.request("GET", item)).status === 404, 30_000);
    return this.call<KubeObject>("POST", collection, object, [201]);
  }

  /** What a namespace's controllers would add: its `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap. */
  private async namespaceDefaults(namespace: string): Promise<void> {
    await this.apply([
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace } },
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "kube-root-ca.crt", namespace }, data: { "ca.crt": this.caPem } },
    ]);
  }

  /** Creates (or keeps) a namespace, with its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap. */
  async createNamespace(name: string, labels: Readonly<Record<string, string>> = {}): Promise<KubeObject> {
    const [namespace] = await this.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { ...labels } } });
    return namespace;
  }

  /** Creates a Pod (stored Pending: there is no kubelet) and returns it as admitted, mutating webhooks included. */
  async createPod(namespace: string, pod: PodOptions): Promise<KubeObject> {
    return this.call<KubeObject>("POST", `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, podManifest(namespace, pod), [201]);
  }

  /** The Pod, or undefined when there is none of that name. */
  async getPod(namespace: string, name: string): Promise<KubeObject | undefined> {
    const res = await this.request<KubeObject>("GET", `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`get pod ${namespace}/${name}: ${res.status} ${statusMessage(res.body)}`);
    return res.body;
  }

  /**
   * Deletes a Pod; returns the API server's answer (200 with the Pod, marked for deletion, when the deletion
   * is graceful; 200 with it as it was when it is deleted at once; 404 when there was none).
   */
  async deletePod(namespace: string, name: string, options: DeletePodOptions = {}): Promise<KubeResponse> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
    const res = await this.request("DELETE", path, deleteOptions(options));
    if (![200, 202, 404].includes(res.status)) throw new Error(`delete pod ${namespace}/${name}: ${res.status} ${statusMessage(res.body)}`);
    if (options.waitGoneMs !== undefined) {
      await waitFor(`pod ${namespace}/${name} to be gone`, async () => (await this.request("GET", path)).status === 404, options.waitGoneMs);
    }
    return res;
  }

  /** Issues a ServiceAccount token (TokenRequest), optionally bound to a Pod; throws if the API server refuses. */
  async tokenRequest(namespace: string, serviceAccount: string, options: TokenRequestOptions = {}): Promise<IssuedToken> {
    const spec = tokenRequestSpec(options);
    const body = await this.call<KubeBody>(
      "POST",
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec },
      [201],
    );
    return { token: body.status.token, expirationTimestamp: body.status.expirationTimestamp };
  }

  /** Asks the API server (as the admin) whether `token` authenticates, for `audiences` (default: the API audiences). */
  async tokenReview(token: string, audiences?: readonly string[]): Promise<TokenReviewStatus> {
    const body = await this.call<KubeBody>(
      "POST",
      "/apis/authentication.k8s.io/v1/tokenreviews",
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, ...(audiences ? { audiences: [...audiences] } : {}) } },
      [200, 201],
    );
    return body.status ?? {};
  }

  /** The end of etcd's and kube-apiserver's output (for failure messages). */
  logTail(lines?: number): string {
    return [this.etcd?.logTail(lines) ?? "", tail("kube-apiserver", this.process, lines)].filter(Boolean).join("\n");
  }

  /** Stops kube-apiserver and etcd and removes the folder (keys, certificates, data, kubeconfig); safe twice. */
  async stop(): Promise<void> {
    try {
      await terminate(this.process);
      await this.etcd?.stop();
    } finally {
      this.ca?.remove();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/**
 * The REST paths of `object`'s collection and of the object itself, from the resources discovery lists for
 * its apiVersion: namespaced kinds under `namespaces/<ns>/`; throws when the kind is not served or a
 * namespaced object has no namespace.
 */
export function resourcePaths(
  resources: readonly KubeBody[],
  object: Pick<KubeObject, "apiVersion" | "kind" | "metadata">,
): { collection: string; item: string } {
  const resource = resources.find((r) => r.kind === object.kind && !String(r.name).includes("/"));
  if (!resource) throw new Error(`the API server serves no kind ${object.kind} in ${object.apiVersion}`);
  const base = object.apiVersion === "v1" ? "/api/v1" : `/apis/${object.apiVersion}`;
  let collection = `${base}/${resource.name}`;
  if (resource.namespaced) {
    const ns = object.metadata.namespace;
    if (!ns) throw new Error(`${object.kind} ${object.metadata.name} is namespaced: metadata.namespace is missing`);
    collection = `${base}/namespaces/${encodeURIComponent(ns)}/${resource.name}`;
  }
  return { collection, item: `${collection}/${encodeURIComponent(object.metadata.name ?? "")}` };
}

/** The Pod {@link KubernetesApiServer.createPod} posts: the options' defaults filled in, optional fields only when given. */
export function podManifest(namespace: string, pod: PodOptions): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: pod.name, namespace, labels: { ...pod.labels }, annotations: { ...pod.annotations } },
    spec: {
      serviceAccountName: pod.serviceAccountName ?? "default",
      containers: pod.containers ?? [{ name: "app", image: "registry.invalid/keybuzz/app:1" }],
      ...(pod.nodeName === undefined ? {} : { nodeName: pod.nodeName }),
      ...(pod.terminationGracePeriodSeconds === undefined ? {} : { terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds }),
    },
  };
}

/** The DeleteOptions body of {@link KubernetesApiServer.deletePod}: only the fields given. */
export function deleteOptions(options: DeletePodOptions): KubeBody {
  return {
    apiVersion: "v1",
    kind: "DeleteOptions",
    ...(options.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: options.gracePeriodSeconds }),
    ...(options.uid === undefined ? {} : { preconditions: { uid: options.uid } }),
    ...(options.propagationPolicy === undefined ? {} : { propagationPolicy: options.propagationPolicy }),
  };
}

/** The `spec` of a TokenRequest: an hour unless told, audiences and a Pod binding only when given. */
export function tokenRequestSpec(options: TokenRequestOptions): KubeBody {
  const spec: KubeBody = { expirationSeconds: options.expirationSeconds ?? 3600 };
  if (options.audiences) spec.audiences = [...options.audiences];
  if (options.boundPod) spec.boundObjectRef = { apiVersion: "v1", kind: "Pod", name: options.boundPod.name, uid: options.boundPod.uid };
  return spec;
}

/** The objects of a YAML text of one or more documents (empty documents skipped); throws on a YAML error. */
export function parseManifests(text: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML manifest: ${doc.errors.map((e) => e.message).join("; ")}`);
    const value = doc.toJS() as KubeObject | null;
    if (value === null || value === undefined) continue;
    if (typeof value !== "object" || !value.apiVersion || !value.kind || !value.metadata) {
      throw new Error(`a manifest needs apiVersion, kind and metadata, got ${JSON.stringify(value).slice(0, 200)}`);
    }
    objects.push(value);
  }
  return objects;
}

function statusMessage(body: unknown): string {
  return (body as KubeBody | undefined)?.message ?? JSON.stringify(body);
}

/** Options of {@link VaultInjector.start}. */
export interface VaultInjectorOptions {
  /** The `vault-k8s` binary (`tools/build.sh vault-k8s`). */
  readonly vaultK8s: string;
  /** The API server it reads and registers with. */
  readonly api: KubernetesApiServer;
  /** The Vault address the injected agents are given (`-vault-address`). */
  readonly vaultAddress: string;
  /** Progress lines. @default - none */
  readonly log?: Log;
  /** The namespace of its ServiceAccount. @default "vault" */
  readonly namespace?: string;
  /**
   * The name of its ServiceAccount; its ClusterRole, ClusterRoleBinding and MutatingWebhookConfiguration are
   * named after it as the Helm chart names them (`<name>-clusterrole`, `<name>-binding`, `<name>-cfg`).
   * @default "vault-agent-injector"
   */
  readonly name?: string;
  /** `-vault-auth-path` of the injected agents. @default "auth/kubernetes" */
  readonly authPath?: string;
  /** `-vault-image` of the injected containers. @default - vault-k8s's own default */
  readonly vaultImage?: string;
  /** More `agent-inject` flags. @default - none */
  readonly extraArgs?: readonly string[];
  /** Where its temp folder goes. @default the system temp folder */
  readonly parentDir?: string;
}

/** The annotations of the probe Pod {@link VaultInjector.start} waits to see mutated. */
export const PROBE_ANNOTATIONS = {
  "vault.hashicorp.com/agent-inject": "true",
  "vault.hashicorp.com/role": "probe",
  "vault.hashicorp.com/agent-inject-secret-probe": "database/creds/probe",
} as const;

/** A kubeconfig for the API server at `url` (verified with `caFile`) as {@link ADMIN_USER}, with its bearer token. */
export function adminKubeconfig(url: string, caFile: string, adminToken: string): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "keybuzz", cluster: { server: url, "certificate-authority": caFile } }],
    users: [{ name: ADMIN_USER.name, user: { token: adminToken } }],
    contexts: [{ name: "keybuzz", context: { cluster: "keybuzz", user: ADMIN_USER.name } }],
    "current-context": "keybuzz",
  };
}

/**
 * The injector's ServiceAccount and RBAC, as its Helm chart gives them: a ClusterRole that may get, list,
 * watch and patch MutatingWebhookConfigurations, bound to the ServiceAccount.
 */
export function injectorRbac(serviceAccount: string, namespace: string): KubeObject[] {
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: serviceAccount, namespace } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: `${serviceAccount}-clusterrole` },
      rules: [
        { apiGroups: ["admissionregistration.k8s.io"], resources: ["mutatingwebhookconfigurations"], verbs: ["get", "list", "watch", "patch"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${serviceAccount}-binding` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `${serviceAccount}-clusterrole` },
      subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace }],
    },
  ];
}

/**
 * The MutatingWebhookConfiguration that sends every Pod CREATE to the injector at `url` (`/mutate`, its
 * certificate checked against `caPem`), failing closed, outside the system namespaces and the injector's own Pods.
 */
export function injectorWebhook(webhookName: string, url: string, caPem: string): KubeObject {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: webhookName },
    webhooks: [
      {
        name: "vault.hashicorp.com",
        admissionReviewVersions: ["v1", "v1beta1"],
        clientConfig: { url: `${url}/mutate`, caBundle: Buffer.from(caPem).toString("base64") },
        rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], scope: "Namespaced" }],
        failurePolicy: "Fail",
        sideEffects: "None",
        timeoutSeconds: 10,
        // as the chart: not the injector's own Pods; and not the system namespaces, where it refuses to inject.
        namespaceSelector: {
          matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", "kube-public"] }],
        },
        objectSelector: { matchExpressions: [{ key: "app.kubernetes.io/name", operator: "NotIn", values: ["vault-agent-injector"] }] },
      },
    ],
  };
}

/**
 * The real Vault Agent Injector (`vault-k8s agent-inject`) serving its webhook on a free 127.0.0.1 port, with
 * the ServiceAccount and RBAC its Helm chart gives it (one replica: get, list, watch and patch
 * MutatingWebhookConfigurations; it lists and watches them at start) and a MutatingWebhookConfiguration
 * for Pod CREATE that calls it by URL, failurePolicy Fail.
 *
 * Its command reads the cluster with client-go's `rest.InClusterConfig()` only: the API server from
 * KUBERNETES_SERVICE_HOST/PORT, and a token and CA from /var/run/secrets/kubernetes.io/serviceaccount/.
 * It runs in a private mount namespace (`unshare --mount --propagation private`, so root only) where a
 * tmpfs covers /run (/var/run is a symlink to it) and this harness's folder holding a bound token of its
 * ServiceAccount (TokenRequest) and the API server's CA is bind-mounted there; nothing on the machine
 * changes, and the mounts go with the process. It serves a static certificate for 127.0.0.1 from its own
 * throwaway CA (`-tls-cert-file`/`-tls-key-file`), not its auto-TLS, which writes to the API.
 * @see https://developer.hashicorp.com/vault/docs/platform/k8s/injector
 */
export class VaultInjector {
  /** Its webhook's base URL, `https://127.0.0.1:<port>` (`/mutate`, `/health/ready`). */
  public url = "";
  public port = 0;
  public readonly namespace: string;
  /** Its ServiceAccount's name (also the prefix of its RBAC objects). */
  public readonly serviceAccount: string;
  /** The MutatingWebhookConfiguration's name. */
  public readonly webhookName: string;
  /** The CA of its serving certificate (the webhook's caBundle). */
  public caPem = "";
  private readonly dir: string;
  private ca?: ThrowawayCa;
  private process?: Started;
  private registered = false;
  private rbac: KubeObject[] = [];

  private constructor(private readonly options: VaultInjectorOptions) {
    this.namespace = options.namespace ?? "vault";
    this.serviceAccount = options.name ?? "vault-agent-injector";
    this.webhookName = `${this.serviceAccount}-cfg`;
    this.dir = mkdtempSync(join(options.parentDir ?? tmpdir(), "keybuzz-injector-"));
    chmodSync(this.dir, 0o700);
  }

  /**
   * Starts the injector, registers its webhook and waits until a probe Pod (annotated with
   * {@link PROBE_ANNOTATIONS}, in a scratch namespace) comes back mutated; undoes all of it if that fails.
   */
  static async start(options: VaultInjectorOptions): Promise<VaultInjector> {
    if (process.getuid?.() !== 0) {
      throw new Error("the Vault Agent Injector runs in a private mount namespace (unshare --mount), which needs root");
    }
    const injector = new VaultInjector(options);
    try {
      await injector.startAll();
    } catch (err) {
      const logs = tail("vault-k8s", injector.process);
      await injector.stop();
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
    return injector;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async startAll(): Promise<void> {
    const t0 = Date.now();
    const { api } = this.options;
    await api.createNamespace(this.namespace);
    this.rbac = injectorRbac(this.serviceAccount, this.namespace);
    await api.apply(this.rbac);

    // what rest.InClusterConfig() reads, bind-mounted at /var/run/secrets/kubernetes.io/serviceaccount.
    const secrets = join(this.dir, "serviceaccount");
    mkdirSync(secrets, { mode: 0o755 });
    const { token } = await api.tokenRequest(this.namespace, this.serviceAccount, { expirationSeconds: 86_400 });
    writeFileSync(join(secrets, "token"), token, { mode: 0o600 });
    writeFileSync(join(secrets, "ca.crt"), api.caPem);
    writeFileSync(join(secrets, "namespace"), this.namespace);

    this.ca = await ThrowawayCa.create(this.dir);
    this.caPem = this.ca.cert;
    const serving = await this.ca.issue("injector", { ips: ["127.0.0.1"] });
    this.port = await freePort();
    this.url = `https://127.0.0.1:${this.port}`;

    const script = [
      "set -e",
      "mount -t tmpfs -o size=1m,mode=0755 keybuzz-injector /run",
      "mkdir -p /run/secrets/kubernetes.io/serviceaccount",
      'mount --bind "$1" /run/secrets/kubernetes.io/serviceaccount',
      "shift",
      'exec "$@"',
    ].join("\n");
    this.process = startProcess(
      "unshare",
      [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        secrets,
        this.options.vaultK8s,
        "agent-inject",
        `-listen=127.0.0.1:${this.port}`,
        `-tls-cert-file=${serving.certFile}`,
        `-tls-key-file=${serving.keyFile}`,
        `-vault-address=${this.options.vaultAddress}`,
        `-vault-auth-path=${this.options.authPath ?? "auth/kubernetes"}`,
        ...(this.options.vaultImage ? [`-vault-image=${this.options.vaultImage}`] : []),
        "-log-level=info",
        ...(this.options.extraArgs ?? []),
      ],
      {
        cwd: this.dir,
        // a clean environment: agent-inject reads AGENT_INJECT_* variables as flags.
        env: {
          PATH: process.env.PATH,
          HOME: this.dir,
          KUBERNETES_SERVICE_HOST: "127.0.0.1",
          KUBERNETES_SERVICE_PORT: String(api.port),
          NAMESPACE: this.namespace,
        },
      },
    );
    await Promise.race([
      waitFor(`vault-k8s agent-inject on ${this.url}/health/ready`, async () => (await this.get("/health/ready")) === 204, 60_000),
      exitedEarly("vault-k8s", this.process),
    ]);

    await api.apply(injectorWebhook(this.webhookName, this.url, this.caPem));
    this.registered = true;
    await this.probe();
    this.log(`vault-k8s agent-inject on ${this.url}, webhook ${this.webhookName} registered, ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  /** GET on the webhook's server, trusting its CA; the status. */
  private get(path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: "127.0.0.1", port: this.port, path, method: "GET", ca: this.caPem, timeout: 5_000 }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("timeout", () => req.destroy(new Error(`GET ${path}: no answer in 5 s`)));
      req.on("error", reject);
      req.end();
    });
  }

  /**
   * Creates annotated Pods in a scratch namespace until one comes back with the injected containers (the API
   * server picks up a new webhook configuration within a moment), then removes them.
   */
  private async probe(): Promise<void> {
    const { api } = this.options;
    const ns = `${this.serviceAccount}-probe-${randomBytes(3).toString("hex")}`;
    await api.createNamespace(ns);
    let attempt = 0;
    try {
      await waitFor(
        `the webhook ${this.webhookName} to mutate a probe Pod in ${ns}`,
        async () => {
          const name = `probe-${++attempt}`;
          const pod = await api.createPod(ns, { name, annotations: PROBE_ANNOTATIONS });
          await api.deletePod(ns, name, { gracePeriodSeconds: 0 });
          return isInjected(pod);
        },
        30_000,
      );
    } finally {
      await api.request("DELETE", `/api/v1/namespaces/${ns}`).catch(() => undefined);
    }
  }

  /** Deletes the webhook configuration and RBAC objects (if the API server still answers), stops the injector and removes its folder; safe twice. */
  async stop(): Promise<void> {
    const { api } = this.options;
    try {
      if (this.registered) {
        await api.request("DELETE", `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${this.webhookName}`).catch(() => undefined);
        this.registered = false;
      }
      for (const object of this.rbac.splice(0).reverse()) {
        const { item } = await api.pathOf(object).catch(() => ({ item: "" }));
        if (item) await api.request("DELETE", item).catch(() => undefined);
      }
      await terminate(this.process);
    } finally {
      this.ca?.remove();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Whether `pod` carries the injector's containers: the init container `vault-agent-init` and the sidecar `vault-agent`. */
export function isInjected(pod: KubeObject): boolean {
  const spec = (pod.spec ?? {}) as KubeBody;
  const names = (list: KubeBody[] | undefined) => (list ?? []).map((c) => c.name);
  return names(spec.initContainers).includes("vault-agent-init") && names(spec.containers).includes("vault-agent");
}

/**
 * The Vault Agent config an injected container carries (its `VAULT_CONFIG` environment variable, base64
 * JSON), or undefined when it has none.
 */
export function agentConfig(container: KubeBody): KubeBody | undefined {
  const value = (container.env as KubeBody[] | undefined)?.find((e) => e.name === "VAULT_CONFIG")?.value;
  return value ? (JSON.parse(Buffer.from(value, "base64").toString("utf8")) as KubeBody) : undefined;
}
