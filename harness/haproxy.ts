/**
 * The HAProxy configuration both sandbox clusters run with (Debian's haproxy package, `tools/build.sh
 * ha-topology`): TCP passed through (so TLS stays end to end) to the one server whose health check passes —
 * the Patroni leader (harness/patroni.ts), the active Vault node (harness/raft.ts).
 */

export interface TcpProxyOptions {
  /** The `listen` section's name. */
  readonly name: string;
  /** Where it listens, on 127.0.0.1. */
  readonly port: number;
  /** `timeout client` and `timeout server`: how long an idle connection is kept. */
  readonly idleTimeoutSeconds: number;
  /** The health check's lines (`option httpchk …`, `http-check …`). */
  readonly check: readonly string[];
  /** The `default-server` options: check timing, TLS of the check, what happens to the sessions of a server marked down. */
  readonly defaultServer: string;
  /** One `server` line each, without the keyword: `<name> <address> [options]`. */
  readonly servers: readonly string[];
}

/** The configuration file's text. */
export function tcpProxyConfig(o: TcpProxyOptions): string {
  return [
    "global",
    "  maxconn 1000",
    "defaults",
    "  mode tcp",
    "  retries 2",
    "  timeout connect 4s",
    `  timeout client ${o.idleTimeoutSeconds}s`,
    `  timeout server ${o.idleTimeoutSeconds}s`,
    "  timeout check 2s",
    `listen ${o.name}`,
    `  bind 127.0.0.1:${o.port}`,
    ...o.check.map((line) => `  ${line}`),
    `  default-server ${o.defaultServer}`,
    ...o.servers.map((server) => `  server ${server}`),
    "",
  ].join("\n");
}
