import { describe, expect, it } from "vitest";
import {
  HAPROXY_CHECK,
  PATRONI_TIMING,
  type PatroniConfigInput,
  patroniConfig,
  patroniHaproxyConfig,
  type PatroniNode,
  runningLeader,
  statParentPid,
} from "../../harness/patroni";

const node: PatroniNode = { name: "node1", pgPort: 6001, restPort: 7001, dir: "/tmp/ha/node1", configFile: "/tmp/ha/node1/patroni.yml" };
const input: PatroniConfigInput = {
  scope: "keybuzz-abc123",
  node,
  etcdPort: 2379,
  replication: "async",
  ssl: false,
  binDir: "/usr/lib/postgresql/15/bin",
  superuser: { username: "postgres", password: "su-secret" },
  replicationPassword: "repl-secret",
  logLevel: "WARNING",
};
const config = (c: Partial<PatroniConfigInput> = {}) => patroniConfig({ ...input, ...c }) as any;

describe("patroniConfig", () => {
  it("puts the node's REST API, PostgreSQL and etcd on loopback", () => {
    const c = config();
    expect(c).toMatchObject({ scope: "keybuzz-abc123", name: "node1", namespace: "/keybuzz-test/", log: { level: "WARNING" } });
    expect(c.restapi).toEqual({ listen: "127.0.0.1:7001", connect_address: "127.0.0.1:7001" });
    expect(c.etcd3).toEqual({ hosts: "127.0.0.1:2379" });
    expect(c.postgresql).toMatchObject({
      listen: "127.0.0.1:6001",
      connect_address: "127.0.0.1:6001",
      data_dir: "/tmp/ha/node1/data",
      bin_dir: "/usr/lib/postgresql/15/bin",
      pgpass: "/tmp/ha/node1/pgpass",
    });
  });

  it("gives the superuser and replicator their passwords", () => {
    expect(config().postgresql.authentication).toEqual({
      superuser: { username: "postgres", password: "su-secret" },
      replication: { username: "replicator", password: "repl-secret" },
    });
  });

  it("fails a crashed primary over at once, with the test's timing", () => {
    const { dcs } = config().bootstrap;
    expect(dcs).toMatchObject({ ...PATRONI_TIMING, primary_start_timeout: 0 });
  });

  it("turns synchronous_mode on for sync replication only", () => {
    expect(config().bootstrap.dcs.synchronous_mode).toBe(false);
    expect(config({ replication: "sync" }).bootstrap.dcs.synchronous_mode).toBe(true);
  });

  it("accepts TCP logins with SCRAM over plain TCP without TLS", () => {
    const c = config();
    expect(c.postgresql.pg_hba).toEqual([
      "local all all trust",
      "host replication replicator 127.0.0.1/32 scram-sha-256",
      "host all all 127.0.0.1/32 scram-sha-256",
    ]);
    expect(c.postgresql.parameters.ssl).toBeUndefined();
  });

  it("serves TLS with the node's files and accepts TCP logins over TLS only, with ssl", () => {
    const c = config({ ssl: true });
    expect(c.postgresql.parameters).toMatchObject({ ssl: "on", ssl_cert_file: "/tmp/ha/node1/server.crt", ssl_key_file: "/tmp/ha/node1/server.key" });
    expect(c.postgresql.pg_hba.slice(1)).toEqual([
      "hostssl replication replicator 127.0.0.1/32 scram-sha-256",
      "hostssl all all 127.0.0.1/32 scram-sha-256",
    ]);
  });
});

describe("patroniHaproxyConfig", () => {
  const nodes = [node, { ...node, name: "node2", pgPort: 6002, restPort: 7002 }];

  it("routes to the node whose REST API answers /primary, checking each on its REST port", () => {
    const text = patroniHaproxyConfig(5000, 1800, nodes);
    expect(text).toContain("  option httpchk OPTIONS /primary\n  http-check expect status 200\n");
    expect(text).toContain("  server node1 127.0.0.1:6001 maxconn 200 check port 7001\n  server node2 127.0.0.1:6002 maxconn 200 check port 7002\n");
  });

  it("cuts the sessions of a node that stops being the primary", () => {
    const { inter, fall, rise } = HAPROXY_CHECK;
    expect(patroniHaproxyConfig(5000, 60, nodes)).toContain(
      `  default-server inter ${inter} fall ${fall} rise ${rise} on-marked-down shutdown-sessions\n`,
    );
  });

  it("keeps idle connections as long as asked", () => {
    const text = patroniHaproxyConfig(5000, 42, nodes);
    expect(text).toContain("  timeout client 42s\n  timeout server 42s\n");
    expect(text).toContain("  bind 127.0.0.1:5000\n");
  });
});

describe("runningLeader", () => {
  it("is the member with the leader key that is running", () => {
    const leader = { name: "node2", role: "leader", state: "running" };
    expect(runningLeader([{ name: "node1", role: "replica", state: "running" }, leader])).toBe(leader);
  });

  it("is none while the leader is not running", () => {
    expect(runningLeader([{ name: "node1", role: "leader", state: "starting" }])).toBeUndefined();
    expect(runningLeader([])).toBeUndefined();
  });
});

describe("statParentPid", () => {
  it("reads the parent pid after the process name", () => {
    expect(statParentPid("4321 (postgres) S 4300 4300 4300 0 -1 4194560")).toBe("4300");
  });

  it("is not misled by spaces and parentheses in the name", () => {
    expect(statParentPid("4322 (postgres: walsender (x) 127.0.0.1) S 4300 4300 0")).toBe("4300");
  });
});
