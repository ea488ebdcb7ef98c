/**
 * Redaction for anything the review prints: a secret must not reach a pull-request comment even if one
 * slipped into the synthesized JSON or the plan. Terraform references (`${var.x}`) and Vault templates
 * (`{{password}}`) are not secrets and stay readable.
 */

export const REDACTED = "(redacted)";

/** Attribute names that hold secrets; `_version` and `_authentication` siblings are metadata, not secrets. */
const SECRET_KEY = /(^|[_.-])(password|passwd|token|secret|secret_id|private_key|client_key|credentials?|conn_str|access_key|api_key)(_wo)?$/i;

function isReference(value: string): boolean {
  return /^\$\{[^}]*\}$/.test(value) || /^\{\{[a-z_]+\}\}$/.test(value);
}

/** A URL's password (`scheme://user:secret@host`) unless it is a Vault template such as `{{password}}`. */
function redactUrlPassword(value: string): string {
  return value.replace(/(\w+:\/\/[^:/@\s]+:)([^@\s]+)@/g, (match, head: string, pass: string) =>
    pass === "{{password}}" || isReference(pass) ? match : `${head}${REDACTED}@`,
  );
}

/** Returns `value` with every secret it holds replaced by {@link REDACTED}, recursively. */
export function redact(value: unknown, key = ""): unknown {
  if (typeof value === "string") {
    if (SECRET_KEY.test(key) && value !== "" && !isReference(value)) return REDACTED;
    return redactUrlPassword(value);
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, key));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  }
  return value;
}

/** Redacts one attribute value given its dotted path (the last segment is the key that matters). */
export function redactAt(path: string, value: unknown): unknown {
  const key =
    path
      .split(".")
      .filter((p) => !/^\d+$/.test(p))
      .pop() ?? "";
  return redact(value, key);
}
