import { describe, expect, it } from "vitest";
import { tcpProxyConfig } from "../../harness/haproxy";

describe("tcpProxyConfig", () => {
  it("passes TCP through to the servers, checked as asked, listening on loopback only", () => {
    const text = tcpProxyConfig({
      name: "vault",
      port: 8200,
      idleTimeoutSeconds: 120,
      check: ["option httpchk", "http-check expect status 200"],
      defaultServer: "inter 1000 fall 2 rise 1 on-marked-down shutdown-sessions",
      servers: ["node1 127.0.0.1:8201", "node2 127.0.0.1:8202"],
    });
    expect(text.split("\n")).toEqual([
      "global",
      "  maxconn 1000",
      "defaults",
      "  mode tcp",
      "  retries 2",
      "  timeout connect 4s",
      "  timeout client 120s",
      "  timeout server 120s",
      "  timeout check 2s",
      "listen vault",
      "  bind 127.0.0.1:8200",
      "  option httpchk",
      "  http-check expect status 200",
      "  default-server inter 1000 fall 2 rise 1 on-marked-down shutdown-sessions",
      "  server node1 127.0.0.1:8201",
      "  server node2 127.0.0.1:8202",
      "",
    ]);
  });
});
