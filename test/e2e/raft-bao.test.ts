/**
 * The three-node Raft cluster suite (fixture/raft-suite.ts) with OpenBao: one file per server, so that the
 * two run side by side.
 */
import { raftSuite } from "./fixture/raft-suite";
import { e2eToolchain } from "./fixture/toolchain";

raftSuite("bao", await e2eToolchain(import.meta.url));
