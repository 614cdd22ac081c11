/**
 * A TCP client through libc (FFI), for the reset scenario: Deno's `close()`
 * sends FIN before the descriptor goes (measured: the server read end of
 * stream, not a reset, with 64 KiB unread at the client), where a plain
 * close(2) with unread data makes the kernel send RST, as the tutorial's
 * Python client (seed 004) does. IPv4 only; private to lib/diagnoses.
 */
import type { Address } from "../net/types.ts";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;

/**
 * Connects to `addr`, sends `bytes`, waits `waitMs` (the answer arrives, unread), then
 * closes: the kernel answers the unread data with RST. Throws where FFI is not allowed.
 */
export async function sendAndCloseUnread(
  addr: Address,
  bytes: Uint8Array,
  waitMs: number,
): Promise<void> {
  const octets = addr.hostname.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255))) {
    throw new TypeError(`Cannot connect: "${addr.hostname}" is not an IPv4 address`);
  }
  const lib = Deno.dlopen("libc.so.6", SYMBOLS);
  try {
    const libc = lib.symbols;
    const fd = libc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error("Cannot connect: socket() failed");
    try {
      // struct sockaddr_in: family (host order), port and address (network order).
      const sa = new Uint8Array(16);
      new DataView(sa.buffer).setUint16(0, AF_INET, true);
      new DataView(sa.buffer).setUint16(2, addr.port, false);
      sa.set(octets, 4);
      // Blocking calls, each over at once on loopback.
      if (libc.connect(fd, sa, 16) !== 0) throw new Error(`Cannot connect to port ${addr.port}`);
      let at = 0;
      while (at < bytes.length) {
        const n = Number(libc.send(fd, bytes.subarray(at), BigInt(bytes.length - at), 0));
        if (n <= 0) throw new Error("Cannot send: send() failed");
        at += n;
      }
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    } finally {
      libc.close(fd);
    }
  } finally {
    lib.close();
  }
}
