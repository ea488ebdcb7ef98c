import { describe, expect, it } from "vitest";
import { devServerArgs, parseServerProduct, persistentServerConfig } from "../../harness/vault";

describe("parseServerProduct", () => {
  it("recognises OpenBao, whose CLI is bao", () => {
    expect(parseServerProduct("/c/bao", "OpenBao v2.6.2 (abcdef), built 2025-11-01T00:00:00Z\n")).toEqual({
      product: "OpenBao",
      version: "2.6.2",
      cli: "bao",
    });
  });

  it("recognises HashiCorp Vault, whose CLI is vault", () => {
    expect(parseServerProduct("/c/vault", "Vault v1.21.0 (1234), built 2025-10-01\n")).toEqual({ product: "Vault", version: "1.21.0", cli: "vault" });
  });

  it("fails quoting the output of anything else", () => {
    expect(() => parseServerProduct("/bin/true", "OpenTofu v1.11.2\n")).toThrow(
      '/bin/true is neither OpenBao nor Vault: `/bin/true version` printed "OpenTofu v1.11.2"',
    );
  });
});

describe("devServerArgs", () => {
  it("runs a dev server on loopback with the chosen root token, keeping no token file", () => {
    expect(devServerArgs("root-abc", 8200)).toEqual([
      "server",
      "-dev",
      "-dev-root-token-id=root-abc",
      "-dev-listen-address=127.0.0.1:8200",
      "-dev-no-store-token",
    ]);
  });
});

describe("persistentServerConfig", () => {
  it("stores in the home's data folder and listens on loopback, plain HTTP", () => {
    expect(persistentServerConfig("/tmp/keybuzz-vault-x", 8300, "http://127.0.0.1:8300").split("\n")).toEqual([
      'storage "file" { path = "/tmp/keybuzz-vault-x/data" }',
      'listener "tcp" {',
      '  address = "127.0.0.1:8300"',
      "  tls_disable = true",
      "}",
      'api_addr = "http://127.0.0.1:8300"',
      "disable_mlock = true",
      "",
    ]);
  });

  it("quotes the data path as an HCL string", () => {
    expect(persistentServerConfig('/tmp/a "b"', 1, "http://127.0.0.1:1")).toContain('path = "/tmp/a \\"b\\"/data"');
  });
});
