import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  buildFailure,
  chooseEngine,
  engineRecentEnough,
  HA_TOPOLOGY,
  kubernetesFromManifest,
  onPath,
  parseEngineVersion,
  parsePostgresMajor,
  POSTGRES_17,
  postgres17Missing,
  TOOLS,
  toolchainBuildNames,
  toolchainWith,
  type BuildManifest,
} from "../../harness/toolchain";

const machine = { major: 15, binDir: "/usr/lib/postgresql/15/bin" };
const goTools: BuildManifest = { tofu: "/c/tofu", bao: "/c/bao", vault: "/c/vault", cliConfig: "/c/cli.tfrc", pluginMirror: "/c/mirror" };

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe("parsePostgresMajor", () => {
  it("reads the major version from pg_ctl --version", () => {
    expect(parsePostgresMajor("pg_ctl (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n", "/bin")).toBe(15);
    expect(parsePostgresMajor("pg_ctl (PostgreSQL) 17.2\n", "/bin")).toBe(17);
  });

  it("fails naming the folder when the output has no version", () => {
    expect(() => parsePostgresMajor("command not found", "/opt/pg/bin")).toThrow(
      "cannot tell the PostgreSQL version of /opt/pg/bin from: command not found",
    );
  });
});

describe("parseEngineVersion", () => {
  it("reads OpenTofu's and Terraform's major and minor version", () => {
    expect(parseEngineVersion("OpenTofu v1.11.2\non linux_amd64\n")).toEqual([1, 11]);
    expect(parseEngineVersion("Terraform v1.9.8\non linux_amd64\n+ provider x\n")).toEqual([1, 9]);
  });

  it("gives undefined for another program's output", () => {
    expect(parseEngineVersion("Vault v1.21.0")).toBeUndefined();
    expect(parseEngineVersion("")).toBeUndefined();
  });
});

describe("engineRecentEnough", () => {
  it("accepts 1.11 and later, refuses earlier engines", () => {
    expect(engineRecentEnough([1, 11])).toBe(true);
    expect(engineRecentEnough([1, 12])).toBe(true);
    expect(engineRecentEnough([2, 0])).toBe(true);
    expect(engineRecentEnough([1, 10])).toBe(false);
    expect(engineRecentEnough([0, 15])).toBe(false);
  });
});

describe("chooseEngine", () => {
  it("takes the first engine recent enough, saying why it passed over the others", () => {
    const progress = vi.fn();
    const chosen = chooseEngine(
      [
        { path: "/usr/bin/tofu", version: [1, 8] },
        { path: "/usr/bin/terraform", version: [1, 12] },
      ],
      progress,
    );
    expect(chosen).toEqual({ path: "/usr/bin/terraform", version: [1, 12] });
    expect(progress.mock.calls).toEqual([["/usr/bin/tofu is 1.8; the stack needs 1.11 or later: not using it"]]);
  });

  it("looks no further once one will do", () => {
    const later = vi.fn(() => ({ path: "/usr/bin/terraform", version: [1, 12] as [number, number] }));
    function* candidates() {
      yield { path: "/usr/bin/tofu", version: [1, 11] as [number, number] };
      yield later();
    }
    expect(chooseEngine(candidates(), () => undefined)?.path).toBe("/usr/bin/tofu");
    expect(later).not.toHaveBeenCalled();
  });

  it("chooses none when no version can be told or all are too old", () => {
    const progress = vi.fn();
    expect(chooseEngine([{ path: "/x/tofu" }, { path: "/x/terraform", version: [1, 5] }], progress)).toBeUndefined();
    expect(progress.mock.calls.map((c) => c[0])).toEqual([
      "/x/tofu is of an unknown version; the stack needs 1.11 or later: not using it",
      "/x/terraform is 1.5; the stack needs 1.11 or later: not using it",
    ]);
  });
});

describe("buildFailure", () => {
  it("quotes only build.sh's ERROR lines", () => {
    const stderr = "[tools] building bao\nERROR: bao needs Go 1.24\n[tools] done\nERROR: tofu: download failed\n";
    expect(buildFailure(["bao", "tofu"], 1, stderr, true)).toBe(
      "tools/build.sh bao tofu failed (exit 1):\nERROR: bao needs Go 1.24\nERROR: tofu: download failed",
    );
  });

  it("quotes all of stderr when it has no ERROR line, and says when Go is missing", () => {
    expect(buildFailure(["bao"], 2, "  bash: line 3: oops  \n", false)).toBe(
      "tools/build.sh bao failed (exit 2):\nbash: line 3: oops\n(Go is not on PATH: the tools are built with it unless they are in the tool cache)",
    );
  });
});

describe("toolchainBuildNames", () => {
  it("builds the Go tools alone by default", () => {
    expect(toolchainBuildNames()).toEqual([...TOOLS]);
  });

  it("adds PostgreSQL 17 and the HA topology when asked for, after the Go tools", () => {
    expect(toolchainBuildNames({ postgres17: true, ha: true })).toEqual([...TOOLS, POSTGRES_17, HA_TOPOLOGY]);
    expect(toolchainBuildNames({ ha: true })).toEqual([...TOOLS, HA_TOPOLOGY]);
  });
});

describe("toolchainWith", () => {
  it("takes the Go tools from the manifest and the machine's PostgreSQL", () => {
    expect(toolchainWith(goTools, machine)).toEqual({
      toolchain: { tofu: "/c/tofu", bao: "/c/bao", vault: "/c/vault", cliConfig: "/c/cli.tfrc", postgres: [machine], ha: undefined },
    });
  });

  it("lists PostgreSQL 17 in its root after the machine's own server", () => {
    const manifest = { ...goTools, postgres17Root: "/c/trixie", postgres17BinDir: "/c/trixie/usr/lib/postgresql/17/bin" };
    expect(toolchainWith(manifest, machine, { postgres17: true }).toolchain?.postgres).toEqual([
      machine,
      { major: 17, binDir: "/c/trixie/usr/lib/postgresql/17/bin", root: "/c/trixie" },
    ]);
  });

  it("says PostgreSQL 17 is missing when the manifest has no root for it", () => {
    const result = toolchainWith(goTools, machine, { postgres17: true });
    expect(result.toolchain).toBeUndefined();
    expect(result.missing).toMatch(/^PostgreSQL 17: tools\/build.sh postgres-17 gave no postgres17Root/);
  });

  it("takes the HA programs when asked for, and says so when one is missing", () => {
    const ha = { patroni: "/p", patronictl: "/pc", etcd: "/e", haproxy: "/h" };
    expect(toolchainWith({ ...goTools, ...ha }, machine, { ha: true }).toolchain?.ha).toEqual(ha);
    expect(toolchainWith({ ...goTools, ...ha, haproxy: undefined }, machine, { ha: true }).missing).toMatch(/^the HA topology: .* gave no patroni/);
  });

  it("needs vault unless told not to, and then leaves its path empty", () => {
    const noVault = { ...goTools, vault: undefined };
    expect(toolchainWith(noVault, machine).missing).toMatch(/^tools\/build.sh gave no tofu, bao, vault and cliConfig/);
    const result = toolchainWith(noVault, machine, { vault: false });
    expect(result.toolchain?.vault).toBe("");
  });

  it("says what is missing when the manifest lacks tofu or the mirror", () => {
    expect(toolchainWith({ ...goTools, cliConfig: undefined }, machine, { vault: false }).missing).toMatch(
      /^tools\/build.sh gave no tofu, bao and cliConfig in its manifest: \{/,
    );
    expect(toolchainWith({ ...goTools, tofu: undefined }, machine).toolchain).toBeUndefined();
  });
});

describe("kubernetesFromManifest", () => {
  it("takes the API server, etcd and the injector from the manifest", () => {
    expect(kubernetesFromManifest({ kubeApiserver: "/k", etcd: "/e", vaultK8s: "/v" })).toEqual({
      tools: { kubeApiserver: "/k", etcd: "/e", vaultK8s: "/v" },
    });
  });

  it("says what is missing when one is absent", () => {
    const result = kubernetesFromManifest({ kubeApiserver: "/k", etcd: "/e" });
    expect(result.tools).toBeUndefined();
    expect(result.missing).toContain("tools/build.sh kube-apiserver etcd vault-k8s gave no kubeApiserver, etcd and vaultK8s");
  });
});

describe("postgres17Missing", () => {
  it("needs root for the chroot", () => {
    vi.spyOn(process, "getuid").mockReturnValue(1000);
    expect(postgres17Missing()).toMatch(/that needs root/);
  });

  it("has nothing to say as root", () => {
    vi.spyOn(process, "getuid").mockReturnValue(0);
    expect(postgres17Missing()).toBeUndefined();
  });
});

describe("onPath", () => {
  it("finds the first executable of that name, skipping files that are not executable and empty entries", () => {
    // GIVEN three PATH folders: the first holds a non-executable file of that name.
    const root = mkdtempSync(join(tmpdir(), "keybuzz-onpath-"));
    try {
      const dirs = ["a", "b", "c"].map((d) => join(root, d));
      for (const [i, dir] of dirs.entries()) {
        mkdirSync(dir);
        writeFileSync(join(dir, "tool"), "#!/bin/sh\n");
        chmodSync(join(dir, "tool"), i === 0 ? 0o644 : 0o755);
      }
      const [a, b, c] = dirs;
      vi.stubEnv("PATH", ["", a, b, c].join(delimiter));
      // WHEN / THEN
      expect(onPath("tool")).toBe(join(b, "tool"));
      expect(onPath("absent")).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
