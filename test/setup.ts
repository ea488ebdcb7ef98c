/**
 * Runs in every test worker before its files (vitest.config.ts `setupFiles`): the workers synthesize stacks
 * in-process, as main.ts does in the app, so they silence the same one upstream deprecation, cdktf 0.21's
 * util.isArray on Node.js 22 and later (stacks/cdktf-warnings.ts), and nothing else.
 */
import { quietCdktfDeprecations } from "../stacks/cdktf-warnings";

quietCdktfDeprecations();
