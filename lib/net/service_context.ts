/** What every endpoint shares: the registry, the packet log, the read-buffer pool, the descriptor budget. */
import type { PacketLog } from "../capture/packet_log.ts";
import type { BufferPool } from "./buffer_pool.ts";
import type { FdBudget } from "./fd_budget.ts";
import type { Registry } from "./registry.ts";

/** The shared parts of the running service that endpoints report into. */
export interface ServiceContext {
  registry: Registry;
  log: PacketLog;
  pool: BufferPool;
  /** Connections of every TCP endpoint and client run count against it; none: no budget. */
  fds?: FdBudget;
}
