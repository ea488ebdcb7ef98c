/**
 * The monitoring suite (fixture/monitoring-suite.ts) on PostgreSQL 15: one file per PostgreSQL major, so that
 * the two run side by side.
 */
import { monitoringSuite } from "./fixture/monitoring-suite";
import { e2eToolchain } from "./fixture/toolchain";

monitoringSuite(15, await e2eToolchain(import.meta.url));
