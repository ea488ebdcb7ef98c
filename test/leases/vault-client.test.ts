import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { VaultClient, errorsOf } from "../../leases/vault-client";

// a stand-in for Vault's HTTP only (status, headers, body): what it answers is set by each test.
const TOKEN = "hvs.test-token-of-the-audit";
let server: Server;
let address: string;
let answer: (res: ServerResponse) => void;
let received: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received = [];
  answer = json(200, { data: {} });
});

/** Answers with this status and JSON body. */
function json(status: number, body: unknown) {
  return (res: ServerResponse) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
}

describe("VaultClient.call", () => {
  it("sends the method and /v1/<path> with the token in X-Vault-Token, and no body or content type without one", async () => {
    await new VaultClient(address, TOKEN).call("GET", "sys/leases/lookup/database/creds/chatwoot-db/?list=true");
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: "GET", url: "/v1/sys/leases/lookup/database/creds/chatwoot-db/?list=true", body: "" });
    expect(received[0].headers["x-vault-token"]).toBe(TOKEN);
    expect(received[0].headers["content-type"]).toBeUndefined();
  });

  it("sends a body as JSON, saying so", async () => {
    await new VaultClient(address, TOKEN).call("PUT", "sys/leases/lookup", { lease_id: "database/creds/chatwoot-db/x" });
    expect(received[0]).toMatchObject({ method: "PUT", url: "/v1/sys/leases/lookup" });
    expect(received[0].headers["content-type"]).toBe("application/json");
    expect(JSON.parse(received[0].body)).toEqual({ lease_id: "database/creds/chatwoot-db/x" });
  });

  it("resolves with the status and the parsed body, also for an error status", async () => {
    answer = json(403, { errors: ["permission denied"] });
    expect(await new VaultClient(address, TOKEN).call("GET", "database/creds/chatwoot-db")).toEqual({
      status: 403,
      body: { errors: ["permission denied"] },
    });
  });

  it("reads an empty body as an empty object", async () => {
    answer = (res) => res.writeHead(204).end();
    expect(await new VaultClient(address, TOKEN).call("PUT", "sys/leases/revoke/database/creds/chatwoot-db/x")).toEqual({ status: 204, body: {} });
  });

  it("keeps the start of a body that is not JSON (a proxy's page) as its one error", async () => {
    const page = `<html><body>502 Bad Gateway${" ".repeat(300)}</body></html>`;
    answer = (res) => res.writeHead(502, { "Content-Type": "text/html" }).end(page);
    const res = await new VaultClient(address, TOKEN).call("GET", "sys/health");
    expect(res).toEqual({ status: 502, body: { errors: [page.slice(0, 200)] } });
  });

  it("rejects, naming the address and not the token, when nothing listens there", async () => {
    // a port that was free a moment ago: bound, then released.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const err = await new VaultClient(`http://127.0.0.1:${port}`, TOKEN).call("GET", "sys/health").then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(new RegExp(`^cannot reach Vault at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    expect(err?.message).not.toContain(TOKEN);
  });
});

describe("VaultClient.ok", () => {
  it("resolves with the reply for 200 and 204", async () => {
    answer = json(200, { data: { keys: ["a"] } });
    expect((await new VaultClient(address, TOKEN).ok("GET", "sys/leases?type=irrevocable&limit=none")).body).toEqual({ data: { keys: ["a"] } });
    answer = (res) => res.writeHead(204).end();
    expect((await new VaultClient(address, TOKEN).ok("PUT", "sys/leases/revoke/x")).status).toBe(204);
  });

  it("throws with the method, path, status and Vault's errors otherwise", async () => {
    answer = json(403, { errors: ["1 error occurred:\n\t* permission denied\n\n"] });
    await expect(new VaultClient(address, TOKEN).ok("PUT", "sys/leases/revoke/x")).rejects.toThrow(
      "PUT sys/leases/revoke/x: 403 1 error occurred: * permission denied",
    );
  });

  it("accepts the statuses it is given instead", async () => {
    answer = json(404, { errors: [] });
    const client = new VaultClient(address, TOKEN);
    expect((await client.ok("GET", "sys/policies/acl/x", undefined, [200, 404])).status).toBe(404);
    await expect(client.ok("GET", "sys/policies/acl/x", undefined, [200])).rejects.toThrow("GET sys/policies/acl/x: 404");
  });
});

describe("errorsOf", () => {
  it("joins Vault's errors on one line", () => {
    expect(errorsOf({ status: 400, body: { errors: ["1 error occurred:\n\t* invalid lease", "second"] } })).toBe(
      "1 error occurred: * invalid lease; second",
    );
  });

  it("shows the body as JSON when it holds no errors", () => {
    expect(errorsOf({ status: 500, body: { errors: [], warnings: ["x"] } })).toBe('{"errors":[],"warnings":["x"]}');
    expect(errorsOf({ status: 500, body: {} })).toBe("{}");
  });
});
