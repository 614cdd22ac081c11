/** What every endpoint shares: the registry, the packet log and the read-buffer pool. */
import type { PacketLog } from "../capture/packet_log.ts";
import type { BufferPool } from "./buffer_pool.ts";
import type { Registry } from "./registry.ts";

/** The shared parts of the running service that endpoints report into. */
export interface ServiceContext {
  registry: Registry;
  log: PacketLog;
  pool: BufferPool;
}
