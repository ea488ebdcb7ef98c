/**
 * The few Vault API calls the lease audit makes, over HTTP or verified HTTPS (`VAULT_CACERT`, else the
 * system's CAs), with the token in a header and never in a message.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface VaultReply {
  readonly status: number;
  /** Vault's JSON body (empty object when there is none). */
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, read field by field where it is used
  readonly body: any;
}

/** A Vault client for one address and token. */
export class VaultClient {
  constructor(
    readonly address: string,
    private readonly token: string,
    private readonly ca?: string,
  ) {}

  /** One API call (`path` without `/v1/`); rejects only when Vault cannot be reached. */
  call(method: string, path: string, body?: unknown): Promise<VaultReply> {
    const url = new URL(`/v1/${path}`, this.address);
    const data = body === undefined ? undefined : JSON.stringify(body);
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: { "X-Vault-Token": this.token, ...(data ? { "Content-Type": "application/json" } : {}) },
          ...(this.ca ? { ca: this.ca } : {}),
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = {};
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              parsed = { errors: [text.slice(0, 200)] };
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer from ${this.address} in 30 s`)));
      req.on("error", (err) => reject(new Error(`cannot reach Vault at ${this.address}: ${err.message}`)));
      req.end(data);
    });
  }

  /** Like {@link call}, but throws unless the status is one of `ok`, with Vault's errors. */
  async ok(method: string, path: string, body?: unknown, ok: readonly number[] = [200, 204]): Promise<VaultReply> {
    const res = await this.call(method, path, body);
    if (!ok.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${errorsOf(res)}`);
    return res;
  }
}

/** Vault's error messages of a reply, joined on one line. */
export function errorsOf(res: VaultReply): string {
  const errors = res.body?.errors;
  // Vault's multi-error text spans lines ("1 error occurred:\n\t* …"): one line reads better in a table.
  return (Array.isArray(errors) && errors.length ? errors.join("; ") : JSON.stringify(res.body)).replace(/\s+/g, " ").trim();
}
