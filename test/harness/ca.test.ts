import { describe, expect, it } from "vitest";
import { serverCertificateRequest } from "../../harness/ca";

describe("serverCertificateRequest", () => {
  it("names every IP and DNS name in subjectAltName, for server authentication only", () => {
    expect(serverCertificateRequest({ ips: ["127.0.0.1"], dns: ["localhost", "pg.test"] }).extensions.split("\n")).toEqual([
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:pg.test",
      "",
    ]);
  });

  it("takes the first IP as common name, else the first DNS name", () => {
    expect(serverCertificateRequest({ dns: ["a.test"], ips: ["127.0.0.1"] }).commonName).toBe("127.0.0.1");
    expect(serverCertificateRequest({ dns: ["a.test", "b.test"] }).commonName).toBe("a.test");
  });

  it("fails without a name", () => {
    expect(() => serverCertificateRequest({})).toThrow("a server certificate needs at least one name");
    expect(() => serverCertificateRequest({ ips: [], dns: [] })).toThrow("a server certificate needs at least one name");
  });
});
