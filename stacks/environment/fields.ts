/**
 * The field types of an environment file, built from the project's vocabulary (constructs/vocabulary.ts):
 * the same patterns and lists the constructs check, with the messages a person reads.
 */
import { z } from "zod";
import {
  HOST_PATH,
  isCidr,
  PG_IDENTIFIER_RULES,
  SEQUENCE_PRIVILEGES,
  TABLE_PRIVILEGES,
  VAULT_NAME,
  VAULT_NAME_MAX_LENGTH,
  VAULT_NAME_RULE,
} from "../../constructs/vocabulary";

/** A safe, unquoted PostgreSQL identifier: lower case, digits and `_`, at most 63 bytes, not `pg_`-reserved. */
export const pgIdentifier = z
  .string()
  .regex(PG_IDENTIFIER_RULES.pattern, PG_IDENTIFIER_RULES.patternMessage)
  .max(PG_IDENTIFIER_RULES.maxBytes, PG_IDENTIFIER_RULES.maxMessage)
  .refine((s) => !s.startsWith(PG_IDENTIFIER_RULES.reservedPrefix), PG_IDENTIFIER_RULES.reservedMessage);

/** A Vault role or connection name: it becomes one path segment (`database/roles/<name>`). */
export const vaultName = z
  .string()
  .regex(VAULT_NAME, `must be ${VAULT_NAME_RULE}`)
  .max(VAULT_NAME_MAX_LENGTH, `must be at most ${VAULT_NAME_MAX_LENGTH} characters`);

const DURATION = /^(\d+h)?(\d+m)?(\d+s)?$/;

/** Parses `90`, `"90s"`, `"15m"`, `"1h"` or `"1h30m"` into seconds; returns NaN for anything else. */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") return Number.isInteger(value) ? value : Number.NaN;
  const m = DURATION.exec(value);
  if (!m || value === "") return Number.NaN;
  const [h, mi, s] = [m[1], m[2], m[3]].map((p) => (p ? Number.parseInt(p, 10) : 0));
  return h * 3600 + mi * 60 + s;
}

const DURATION_HINT = 'must be a positive duration: whole seconds (3600) or a string like "90s", "15m", "1h", "1h30m"';

/** A positive duration, written as whole seconds or as a Go-style string (`"1h"`, `"30m"`, `"1h30m"`). */
export const duration = z.union([z.number(), z.string()], { error: DURATION_HINT }).transform((v, ctx) => {
  const seconds = parseDuration(v);
  if (Number.isNaN(seconds) || seconds <= 0) {
    ctx.addIssue({ code: "custom", message: DURATION_HINT });
    return z.NEVER;
  }
  return seconds;
});

export const tablePrivilege = z.enum(TABLE_PRIVILEGES);
export const sequencePrivilege = z.enum(SEQUENCE_PRIVILEGES);

/** An absolute path on an application's host: letters, digits and `._/-` (it goes into HCL and unit files). */
export const hostPath = z.string().regex(HOST_PATH, "must be an absolute path of letters, digits and ._/- (no spaces or quotes)");

export const cidr = z.string().refine(isCidr, "must be an IPv4 CIDR block such as 10.0.0.0/24 (no leading zeros)");

/** A Kubernetes name: not empty, no surrounding spaces. */
export const k8sName = z
  .string()
  .min(1, "must not be empty")
  .refine((v) => v === v.trim(), "must not be blank or space-padded");
