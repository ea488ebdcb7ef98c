import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  asPostgresUser,
  hostsslOnly,
  postgresBinDir,
  postgresClientConfig,
  postgresServerOptions,
  postmasterPid,
  serverPathIn,
} from "../../harness/postgres";

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("serverPathIn", () => {
  it("gives a path inside the root as the chrooted server sees it", () => {
    expect(serverPathIn("/cache/trixie", "/cache/trixie/tmp/keybuzz-pg-x/data")).toBe("/tmp/keybuzz-pg-x/data");
  });

  it("leaves the path alone without a root", () => {
    expect(serverPathIn(undefined, "/tmp/keybuzz-pg-x/data")).toBe("/tmp/keybuzz-pg-x/data");
  });
});

describe("asPostgresUser", () => {
  it("runs the command as it is when the cluster is the caller's", () => {
    expect(asPostgresUser("/bin/pg_ctl", ["start"], { runuser: false })).toEqual(["/bin/pg_ctl", ["start"]]);
  });

  it("runs it as the postgres user when we are root", () => {
    expect(asPostgresUser("/bin/pg_ctl", ["start"], { runuser: true })).toEqual(["runuser", ["-u", "postgres", "--", "/bin/pg_ctl", "start"]]);
  });

  it("runs it as the root's own postgres user, in the root, with a root", () => {
    expect(asPostgresUser("/usr/lib/postgresql/17/bin/initdb", ["-D", "/tmp/d"], { root: "/r", runuser: true })).toEqual([
      "chroot",
      ["/r", "runuser", "-u", "postgres", "--", "/usr/lib/postgresql/17/bin/initdb", "-D", "/tmp/d"],
    ]);
  });
});

describe("hostsslOnly", () => {
  it("turns every `host` line into `hostssl`, leaving local and commented lines", () => {
    const hba = [
      "# host all all 0.0.0.0/0 trust",
      "local   all all trust",
      "host    all all 127.0.0.1/32 scram-sha-256",
      "host\treplication all ::1/128 scram-sha-256",
      "hostssl all all 10.0.0.0/8 scram-sha-256",
      "hostnossl all all 10.0.0.0/8 reject",
    ].join("\n");
    expect(hostsslOnly(hba).split("\n")).toEqual([
      "# host all all 0.0.0.0/0 trust",
      "local   all all trust",
      "hostssl    all all 127.0.0.1/32 scram-sha-256",
      "hostssl\treplication all ::1/128 scram-sha-256",
      "hostssl all all 10.0.0.0/8 scram-sha-256",
      "hostnossl all all 10.0.0.0/8 reject",
    ]);
  });
});

describe("postgresServerOptions", () => {
  it("listens on the host and port given, with the test's defaults", () => {
    expect(postgresServerOptions({ host: "127.0.0.1", port: 5433, socketDir: "/tmp/pg", chroot: false })).toBe(
      "-c listen_addresses=127.0.0.1 -c port=5433 -c unix_socket_directories=/tmp/pg -c max_connections=200 -c fsync=off -c log_min_messages=warning",
    );
  });

  it("serves TLS with the files given", () => {
    const opts = postgresServerOptions({
      host: "127.0.0.1",
      port: 1,
      socketDir: "/s",
      chroot: false,
      ssl: { cert: "/s/server.crt", key: "/s/server.key" },
    });
    expect(opts).toContain("-c ssl=on -c ssl_cert_file=/s/server.crt -c ssl_key_file=/s/server.key");
  });

  it("uses mmap shared memory in a root, which has no /dev/shm", () => {
    expect(postgresServerOptions({ host: "127.0.0.1", port: 1, socketDir: "/s", chroot: true })).toMatch(/ -c dynamic_shared_memory_type=mmap$/);
    expect(postgresServerOptions({ host: "127.0.0.1", port: 1, socketDir: "/s", chroot: false })).not.toContain("dynamic_shared_memory_type");
  });

  it("puts the caller's settings last, so that they win over the defaults", () => {
    const opts = postgresServerOptions({
      host: "127.0.0.1",
      port: 1,
      socketDir: "/s",
      chroot: false,
      settings: { max_connections: 30, log_min_messages: "debug1" },
    });
    expect(opts.endsWith("-c max_connections=30 -c log_min_messages=debug1")).toBe(true);
  });
});

describe("postmasterPid", () => {
  it("reads the first line of postmaster.pid, and 0 when there is none", () => {
    const dir = mkdtempSync(join(tmpdir(), "keybuzz-pg-test-"));
    try {
      expect(postmasterPid(dir)).toBe(0);
      writeFileSync(join(dir, "postmaster.pid"), "4242\n/tmp/data\n1700000000\n5432\n");
      expect(postmasterPid(dir)).toBe(4242);
      writeFileSync(join(dir, "postmaster.pid"), "");
      expect(postmasterPid(dir)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("postgresBinDir", () => {
  it("takes PG_BINDIR when it is set", () => {
    vi.stubEnv("PG_BINDIR", "/opt/postgresql/16/bin");
    expect(postgresBinDir()).toBe("/opt/postgresql/16/bin");
  });
});

describe("postgresClientConfig", () => {
  const base = { host: "127.0.0.1", port: 5433, database: "keybuzz", user: "app", password: "pw", ssl: false };

  it("connects in plain TCP, with a 10 s connection timeout", () => {
    expect(postgresClientConfig(base)).toEqual({
      host: "127.0.0.1",
      port: 5433,
      database: "keybuzz",
      user: "app",
      password: "pw",
      connectionTimeoutMillis: 10_000,
    });
  });

  it("encrypts without checking the certificate when the cluster serves TLS", () => {
    expect(postgresClientConfig({ ...base, ssl: true }).ssl).toEqual({ rejectUnauthorized: false });
  });

  it("starts the session as the role given", () => {
    expect(postgresClientConfig({ ...base, role: "keybuzz_api" }).options).toBe("-c role=keybuzz_api");
  });
});
