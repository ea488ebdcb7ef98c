/**
 * The Vault side as production runs it: three OpenBao (or HashiCorp Vault) servers on 127.0.0.1 with
 * integrated storage (Raft), TLS for clients and between the nodes, and HAProxy in front sending clients to
 * the active node, as a load balancer in front of `vault.keybuzz.io` does. Used by the Raft suites
 * (test/e2e/fixture/raft-suite.ts) and `npm run bench` (`BENCH_ONLY=raft`).
 *
 * - Every node's listener and its `api_addr` are `https://127.0.0.1:<port>` with a certificate for
 *   127.0.0.1 from a throwaway CA (harness/ca.ts); `retry_join` names the other nodes with that CA, so a
 *   joining node verifies the leader it joins. Node-to-node Raft and request forwarding run on the cluster
 *   port, which the servers secure themselves (mutual TLS with certificates they make).
 * - node1 is initialized (Shamir: 3 key shares, 2 to unseal; the shares and the root token are kept in
 *   `keys.json`, mode 0600, in the cluster's temp folder only) and unsealed; node2 and node3 join it by
 *   `retry_join` and are unsealed with the same shares. Autopilot makes them voters after
 *   `server_stabilization_time` (10 s): only then does losing the active node leave a quorum.
 * - `performance_multiplier = 1`: the Raft timing HashiCorp recommends for production (the default, 5,
 *   is five times slower to notice a dead leader).
 * - HAProxy checks each node's `GET /v1/sys/health` over verified TLS every second and sends clients only
 *   to the node that answers 200 (the active one; a standby answers 429, a sealed node 503). Clients keep
 *   TLS end to end: HAProxy passes the connection through (`mode tcp`).
 *
 * {@link RaftCluster.address} (HAProxy's) is what clients and the stack use; {@link RaftCluster.node} gives
 * one node's own address, for running a tool against a standby.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VaultClient } from "../leases/vault-client";
import type { ThrowawayCa } from "./ca";
import { tcpProxyConfig } from "./haproxy";
import { freePort, startProcess, waitFor, type Started } from "./processes";
import { serverProduct, type VaultEndpoint, type VaultResponse } from "./vault";

/** The Raft timing and HAProxy checks of the cluster (see the file's comment). */
export const RAFT_TIMING = { performanceMultiplier: 1, checkInterMs: 1000, checkFall: 2, checkRise: 1 } as const;

/** The unseal key shares and how many of them unseal a node. */
const SHAMIR = { shares: 3, threshold: 2 } as const;

export interface RaftOptions {
  /** The server binary: `bao` or `vault`. */
  readonly binary: string;
  /** The CA whose certificate for 127.0.0.1 every node serves (and clients and joining nodes verify). */
  readonly ca: ThrowawayCa;
  /** HAProxy (Debian's package, `tools/build.sh ha-topology`). */
  readonly haproxy: string;
  /** Where the cluster's temp folder goes. */
  readonly parentDir: string;
  /** More environment for the server processes, e.g. `SSL_CERT_FILE`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Progress lines. */
  readonly log: (message: string) => void;
}

/** One server of the cluster. */
export interface RaftNode {
  readonly name: string;
  /** Its own API address, `https://127.0.0.1:<port>` (also its `api_addr`). */
  readonly address: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly dir: string;
  process?: Started;
}

/** A member of the Raft configuration, as `sys/storage/raft/configuration` lists it. */
export interface RaftMember {
  readonly nodeId: string;
  readonly leader: boolean;
  readonly voter: boolean;
}

/**
 * A node's server config: Raft storage in its folder, `retry_join` to every other node (verified with the
 * CA), and a TLS listener on 127.0.0.1 with `cert`, its cluster port beside it.
 */
export function raftNodeConfig(
  node: RaftNode,
  nodes: readonly RaftNode[],
  caFile: string,
  cert: { readonly certFile: string; readonly keyFile: string },
): string {
  const q = JSON.stringify;
  const joins = nodes
    .filter((n) => n !== node)
    .map((n) => `  retry_join {\n    leader_api_addr = ${q(n.address)}\n    leader_ca_cert_file = ${q(caFile)}\n  }`);
  return [
    `storage "raft" {`,
    `  path = ${q(node.dir)}`,
    `  node_id = ${q(node.name)}`,
    `  performance_multiplier = ${RAFT_TIMING.performanceMultiplier}`,
    ...joins,
    "}",
    `listener "tcp" {`,
    `  address = "127.0.0.1:${node.port}"`,
    `  cluster_address = "127.0.0.1:${node.clusterPort}"`,
    `  tls_cert_file = ${q(cert.certFile)}`,
    `  tls_key_file = ${q(cert.keyFile)}`,
    "}",
    `api_addr = ${q(node.address)}`,
    `cluster_addr = "https://127.0.0.1:${node.clusterPort}"`,
    "disable_mlock = true",
    "",
  ].join("\n");
}

/** HAProxy's config on 127.0.0.1:`port`: clients go to the node whose `sys/health`, checked over TLS verified with `caFile`, answers 200. */
export function raftHaproxyConfig(port: number, caFile: string, nodes: readonly Pick<RaftNode, "name" | "port">[]): string {
  const { checkInterMs, checkFall, checkRise } = RAFT_TIMING;
  return tcpProxyConfig({
    name: "vault",
    port,
    idleTimeoutSeconds: 120,
    // 200: active; a standby answers 429, a sealed or uninitialized node 503/501.
    check: ["option httpchk", "http-check send meth GET uri /v1/sys/health", "http-check expect status 200"],
    defaultServer: `check check-ssl verify required ca-file ${caFile} inter ${checkInterMs} fall ${checkFall} rise ${checkRise} on-marked-down shutdown-sessions`,
    servers: nodes.map((n) => `${n.name} 127.0.0.1:${n.port}`),
  });
}

/**
 * The active node's name when the nodes' `sys/health` statuses (in node order; 0 for no answer) show
 * exactly one active node (200) and every other a standby (429); undefined otherwise.
 */
export function activeOfHealthy(nodes: readonly Pick<RaftNode, "name">[], statuses: readonly number[]): string | undefined {
  if (statuses.filter((s) => s === 200).length !== 1 || statuses.filter((s) => s === 429).length !== nodes.length - 1) return undefined;
  return nodes[statuses.indexOf(200)].name;
}

export class RaftCluster implements VaultEndpoint {
  /** HAProxy's address: the one clients use. */
  address = "";
  rootToken = "";
  readonly caFile: string;
  readonly product: "OpenBao" | "Vault";
  readonly version: string;
  readonly cli: "bao" | "vault";
  readonly nodes: RaftNode[] = [];
  private readonly dir: string;
  private unsealKeys: string[] = [];
  /** The CA certificate's PEM text, read once: what every API call verifies the node with. */
  private readonly caPem: string;
  private haproxy?: Started;
  private lbPort = 0;

  private constructor(private readonly options: RaftOptions) {
    ({ product: this.product, version: this.version, cli: this.cli } = serverProduct(options.binary));
    this.caFile = options.ca.certFile;
    this.caPem = options.ca.cert;
    this.dir = mkdtempSync(join(options.parentDir, "raft-"));
    chmodSync(this.dir, 0o700);
  }

  get label(): string {
    return `${this.product} ${this.version}`;
  }

  /** Starts, initializes and unseals the three nodes and HAProxy; stops what it started if that fails. */
  static async start(options: RaftOptions): Promise<RaftCluster> {
    const cluster = new RaftCluster(options);
    try {
      await cluster.startAll();
    } catch (err) {
      const tail = cluster.logTail();
      await cluster.stop();
      throw new Error(`${(err as Error).message}\n${tail}`);
    }
    return cluster;
  }

  private async startAll(): Promise<void> {
    const t0 = Date.now();
    const cert = await this.options.ca.issue("raft-node", { ips: ["127.0.0.1"] });
    for (let i = 1; i <= 3; i++) {
      const [port, clusterPort] = [await freePort(), await freePort()];
      const node: RaftNode = { name: `node${i}`, address: `https://127.0.0.1:${port}`, port, clusterPort, dir: join(this.dir, `node${i}`) };
      this.nodes.push(node);
    }
    for (const node of this.nodes) this.writeConfig(node, cert);
    for (const node of this.nodes) this.startNode(node);

    const [first, ...others] = this.nodes;
    await waitFor(`${first.name} to answer`, async () => (await this.health(first)).status === 501, 60_000);
    const init = await this.nodeRequest(first, "PUT", "sys/init", { secret_shares: SHAMIR.shares, secret_threshold: SHAMIR.threshold });
    if (init.status !== 200) throw new Error(`${this.product} init: ${init.status} ${JSON.stringify(init.body)}`);
    this.unsealKeys = init.body.keys_base64;
    this.rootToken = init.body.root_token;
    const keys = join(this.dir, "keys.json");
    writeFileSync(keys, JSON.stringify({ unseal_keys_b64: this.unsealKeys, root_token: this.rootToken }), { mode: 0o600 });
    await this.unseal(first);
    await waitFor(`${first.name} to become active`, async () => (await this.health(first)).status === 200, 60_000);
    // the others join node1 (retry_join) once it answers, and are unsealed with the same shares.
    for (const node of others) await this.unseal(node);

    this.lbPort = await freePort();
    this.address = `https://127.0.0.1:${this.lbPort}`;
    const cfg = join(this.dir, "haproxy.cfg");
    writeFileSync(cfg, this.haproxyConfig());
    this.haproxy = startProcess(this.options.haproxy, ["-db", "-f", cfg], { cwd: this.dir });
    const active = await this.waitHealthy(120_000);
    this.options.log(
      `${this.label} Raft cluster: ${this.nodes.length} voters, ${active} active, HAProxy on ${this.address}, ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }

  private writeConfig(node: RaftNode, cert: { certFile: string; keyFile: string }): void {
    writeFileSync(join(this.dir, `${node.name}.hcl`), raftNodeConfig(node, this.nodes, this.caFile, cert));
  }

  private startNode(node: RaftNode): void {
    // Raft's folder must exist before the server starts; HOME in the cluster's folder.
    mkdirSync(node.dir, { recursive: true, mode: 0o700 });
    const env = { PATH: process.env.PATH, HOME: this.dir, ...this.options.env };
    node.process = startProcess(this.options.binary, ["server", `-config=${join(this.dir, `${node.name}.hcl`)}`], { env });
  }

  /** Unseals `node` with the key shares (a node that is still joining takes them to answer the leader's challenge). */
  private async unseal(node: RaftNode): Promise<void> {
    await waitFor(
      `${node.name} to unseal`,
      async () => {
        // a fresh attempt each time: a share given twice in one attempt is refused.
        await this.nodeRequest(node, "PUT", "sys/unseal", { reset: true });
        for (const key of this.unsealKeys.slice(0, SHAMIR.threshold)) {
          const res = await this.nodeRequest(node, "PUT", "sys/unseal", { key });
          if (res.status === 200 && res.body.sealed === false) return true;
          if (res.status !== 200) return false;
        }
        return (await this.health(node)).status !== 503;
      },
      90_000,
    );
  }

  private haproxyConfig(): string {
    return raftHaproxyConfig(this.lbPort, this.caFile, this.nodes);
  }

  /** A node by name. */
  node(name: string): RaftNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name} (nodes: ${this.nodes.map((n) => n.name).join(", ")})`);
    return node;
  }

  /** An API call through HAProxy (root token unless another is given). */
  request(method: string, path: string, body?: unknown, token: string = this.rootToken): Promise<VaultResponse> {
    return this.call(this.address, method, path, body, token);
  }

  /** An API call to one node directly. */
  nodeRequest(node: RaftNode | string, method: string, path: string, body?: unknown, token: string = this.rootToken): Promise<VaultResponse> {
    const n = typeof node === "string" ? this.node(node) : node;
    return this.call(n.address, method, path, body, token);
  }

  private async call(address: string, method: string, path: string, body: unknown, token: string): Promise<VaultResponse> {
    const res = await new VaultClient(address, token, this.caPem).call(method, path, body);
    return { status: res.status, body: res.body ?? {} };
  }

  /** `sys/health` of one node: 200 active, 429 standby, 503 sealed, 501 not initialized. */
  async health(node: RaftNode): Promise<VaultResponse> {
    return this.nodeRequest(node, "GET", "sys/health", undefined, "");
  }

  /** The node that answers `sys/health` with 200 (undefined when none does). */
  async active(): Promise<string | undefined> {
    const states = await Promise.all(
      this.nodes.map((n) =>
        this.health(n).then(
          (h) => h.status,
          () => 0,
        ),
      ),
    );
    return this.nodes[states.indexOf(200)]?.name;
  }

  /** The Raft configuration, as the active node reports it. */
  async members(): Promise<RaftMember[]> {
    const res = await this.request("GET", "sys/storage/raft/configuration");
    if (res.status !== 200) throw new Error(`raft configuration: ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body.data.config.servers as { node_id: string; leader: boolean; voter: boolean }[]).map((s) => ({
      nodeId: s.node_id,
      leader: s.leader,
      voter: s.voter,
    }));
  }

  /**
   * Waits until every running node is unsealed, one is active, the others are standbys, every node is a
   * voter, autopilot calls the cluster healthy with a failure tolerance of one node, and HAProxy sends
   * clients to the active one; returns the active node's name.
   */
  async waitHealthy(timeoutMs = 120_000): Promise<string> {
    let active = "";
    await waitFor(
      `the ${this.label} cluster to be healthy (one active node, every node an unsealed voter, HAProxy routing)`,
      async () => {
        const states = await Promise.all(
          this.nodes.map((n) =>
            this.health(n).then(
              (h) => h.status,
              () => 0,
            ),
          ),
        );
        const one = activeOfHealthy(this.nodes, states);
        if (!one) return false;
        active = one;
        const members = await this.members();
        if (members.length !== this.nodes.length || !members.every((m) => m.voter)) return false;
        if (members.find((m) => m.leader)?.nodeId !== active) return false;
        // what an operator's alert reads: autopilot's own view, refreshed a moment after the configuration's.
        const autopilot = await this.request("GET", "sys/storage/raft/autopilot/state");
        if (autopilot.body.data?.healthy !== true || autopilot.body.data?.failure_tolerance !== 1) return false;
        return (await this.request("GET", "sys/health", undefined, "")).status === 200;
      },
      timeoutMs,
    );
    return active;
  }

  /** Asks the active node to step down (`sys/step-down`); returns it. */
  async stepDown(): Promise<string> {
    const active = await this.active();
    if (!active) throw new Error("no active node to step down");
    const res = await this.nodeRequest(active, "PUT", "sys/step-down");
    if (res.status !== 204) throw new Error(`step-down of ${active}: ${res.status} ${JSON.stringify(res.body)}`);
    return active;
  }

  /** SIGKILL of one node's server (no chance to hand over or flush anything). */
  kill(name: string): void {
    const node = this.node(name);
    if (!node.process) throw new Error(`${name} is not running`);
    node.process.signal("SIGKILL");
  }

  /** Waits until a killed node's process is gone. */
  async exited(name: string): Promise<void> {
    await this.node(name).process?.exited;
  }

  /** Starts a stopped node again on its data (it rejoins as a standby) and unseals it. */
  async restart(name: string): Promise<void> {
    const node = this.node(name);
    await node.process?.exited;
    this.startNode(node);
    await waitFor(`${name} to answer`, async () => (await this.health(node)).status === 503, 60_000);
    await this.unseal(node);
  }

  /** The last lines of every process's output (for a failure message). */
  logTail(lines = 15): string {
    const tail = (label: string, p?: Started) => (p ? `--- ${label}\n${p.output().trim().split("\n").slice(-lines).join("\n")}` : "");
    return [...this.nodes.map((n) => tail(n.name, n.process)), tail("haproxy", this.haproxy)].filter(Boolean).join("\n");
  }

  /** Stops HAProxy and every node, then removes the folder (key shares included); safe to call twice. */
  async stop(): Promise<void> {
    const running = [this.haproxy, ...this.nodes.map((n) => n.process)].filter((p): p is Started => !!p);
    for (const p of running) p.signal("SIGTERM");
    await Promise.all(
      running.map(async (p) => {
        const done = await Promise.race([p.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 15_000))]);
        if (!done) p.signal("SIGKILL");
        await p.exited;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
