/**
 * The monitoring suite (fixture/monitoring-suite.ts) on PostgreSQL 17: one file per PostgreSQL major, so that
 * the two run side by side.
 */
import { monitoringSuite } from "./fixture/monitoring-suite";
import { e2eToolchain } from "./fixture/toolchain";

monitoringSuite(17, await e2eToolchain(import.meta.url));
