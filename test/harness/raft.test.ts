import { describe, expect, it } from "vitest";
import { activeOfHealthy, RAFT_TIMING, raftHaproxyConfig, raftNodeConfig, type RaftNode } from "../../harness/raft";

const nodes: RaftNode[] = [1, 2, 3].map((i) => ({
  name: `node${i}`,
  address: `https://127.0.0.1:820${i}`,
  port: 8200 + i,
  clusterPort: 8300 + i,
  dir: `/tmp/raft-x/node${i}`,
}));
const cert = { certFile: "/tmp/ca/raft-node.crt", keyFile: "/tmp/ca/raft-node.key" };

describe("raftNodeConfig", () => {
  it("gives a node Raft storage, a TLS listener on loopback and its addresses", () => {
    const lines = raftNodeConfig(nodes[0], nodes, "/tmp/ca/ca.crt", cert).split("\n");
    expect(lines.slice(0, 4)).toEqual(['storage "raft" {', '  path = "/tmp/raft-x/node1"', '  node_id = "node1"', "  performance_multiplier = 1"]);
    expect(lines.slice(-10)).toEqual([
      'listener "tcp" {',
      '  address = "127.0.0.1:8201"',
      '  cluster_address = "127.0.0.1:8301"',
      '  tls_cert_file = "/tmp/ca/raft-node.crt"',
      '  tls_key_file = "/tmp/ca/raft-node.key"',
      "}",
      'api_addr = "https://127.0.0.1:8201"',
      'cluster_addr = "https://127.0.0.1:8301"',
      "disable_mlock = true",
      "",
    ]);
  });

  it("joins every other node, verifying it with the CA, and never itself", () => {
    const text = raftNodeConfig(nodes[1], nodes, "/tmp/ca/ca.crt", cert);
    const joins = [...text.matchAll(/retry_join \{\n {4}leader_api_addr = "([^"]+)"\n {4}leader_ca_cert_file = "([^"]+)"\n {2}\}/g)];
    expect(joins.map((m) => m[1])).toEqual(["https://127.0.0.1:8201", "https://127.0.0.1:8203"]);
    expect(joins.every((m) => m[2] === "/tmp/ca/ca.crt")).toBe(true);
  });

  it("uses the production Raft timing", () => {
    expect(RAFT_TIMING.performanceMultiplier).toBe(1);
    expect(raftNodeConfig(nodes[2], nodes, "/ca", cert)).toContain(`performance_multiplier = ${RAFT_TIMING.performanceMultiplier}\n`);
  });
});

describe("raftHaproxyConfig", () => {
  const text = raftHaproxyConfig(9000, "/tmp/ca/ca.crt", nodes);

  it("listens on loopback and sends clients to every node's API port", () => {
    expect(text).toContain("  bind 127.0.0.1:9000\n");
    expect(text).toContain("  server node1 127.0.0.1:8201\n  server node2 127.0.0.1:8202\n  server node3 127.0.0.1:8203\n");
  });

  it("routes to the node whose sys/health answers 200, checked over TLS verified with the CA", () => {
    expect(text).toContain("  http-check send meth GET uri /v1/sys/health\n  http-check expect status 200\n");
    expect(text).toContain(
      "  default-server check check-ssl verify required ca-file /tmp/ca/ca.crt inter 1000 fall 2 rise 1 on-marked-down shutdown-sessions\n",
    );
  });
});

describe("activeOfHealthy", () => {
  it("names the one active node when the others are standbys", () => {
    expect(activeOfHealthy(nodes, [429, 200, 429])).toBe("node2");
  });

  it("gives undefined while no node, or more than one, is active", () => {
    expect(activeOfHealthy(nodes, [429, 429, 429])).toBeUndefined();
    expect(activeOfHealthy(nodes, [200, 200, 429])).toBeUndefined();
  });

  it("gives undefined while a node is sealed or does not answer", () => {
    expect(activeOfHealthy(nodes, [200, 503, 429])).toBeUndefined();
    expect(activeOfHealthy(nodes, [200, 429, 0])).toBeUndefined();
  });
});
