/**
 * The environment config: one JSON file per environment in `config/`, validated before anything is built.
 *
 * - fields.ts: the field types, from the project's vocabulary (constructs/vocabulary.ts);
 * - schema.ts: every field, its default and its description (`npm run schema` writes config/schema.json);
 * - rules.ts: the cross-field and production rules, as tables;
 * - errors.ts: one line per problem, naming the file, the field and the value;
 * - load.ts: reading a folder of environment files and their CA certificates.
 */
export { ConfigError } from "./errors";
export { parseDuration } from "./fields";
export { loadEnvironments, parseEnvironment } from "./load";
export { CROSS_FIELD_RULES, isProduction, PRODUCTION_RULES } from "./rules";
export { environmentSchema, type ApplicationConfig, type CaCertificate, type EnvironmentConfig } from "./schema";
