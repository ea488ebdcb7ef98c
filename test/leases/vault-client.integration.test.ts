/**
 * VaultClient over HTTPS: it trusts the CA it is given (`VAULT_CACERT`), else only the system's. An
 * integration test for its use of the `openssl` CLI (harness/ca.ts); the stand-in server answers HTTP only.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ThrowawayCa } from "../../harness/ca";
import { VaultClient } from "../../leases/vault-client";

let ca: ThrowawayCa;
let server: Server;
let address: string;

beforeAll(async () => {
  ca = await ThrowawayCa.create();
  const cert = await ca.issue("vault", { ips: ["127.0.0.1"] });
  server = createServer({ cert: cert.cert, key: readFileSync(cert.keyFile) }, (_req, res) =>
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ initialized: true })),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  address = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  ca?.remove();
});

describe("VaultClient over HTTPS", () => {
  it("reaches a server whose certificate the given CA signed", async () => {
    expect(await new VaultClient(address, "t", ca.cert).call("GET", "sys/health")).toEqual({ status: 200, body: { initialized: true } });
  });

  it("refuses it without that CA: the system's CAs did not sign it", async () => {
    await expect(new VaultClient(address, "t").call("GET", "sys/health")).rejects.toThrow(
      new RegExp(
        `^cannot reach Vault at ${address.replace(/\./g, "\\.")}: (unable to verify the first certificate|self-signed certificate|unable to get local issuer certificate)`,
      ),
    );
  });
});
