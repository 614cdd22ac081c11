/**
 * The second reference: Node's own echo servers, the plainest way Node
 * writes them (`net` socket piped to itself, `dgram` sending each datagram
 * back). Prints `{"port":N,"udpPort":M}` once both listen; on SIGTERM prints
 * `{"stats":{…}}` and exits.
 *
 *     node bench/node_echo.mjs [--max-seconds 600] [--backlog 4096]
 */
import dgram from "node:dgram";
import net from "node:net";

let maxSeconds = 600;
let backlog = 511;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--max-seconds") maxSeconds = Number(argv[++i]);
  else if (argv[i] === "--backlog") backlog = Number(argv[++i]);
  else throw new TypeError(`Cannot start node echo: unknown flag "${argv[i]}"`);
}

const stats = { accepted: 0, bytesIn: 0, datagrams: 0, errors: 0 };

const server = net.createServer({ noDelay: true }, (sock) => {
  stats.accepted++;
  sock.on("data", (chunk) => {
    stats.bytesIn += chunk.length;
    // Back-pressure as a Node user writes it: pause reading while the write is queued.
    if (!sock.write(chunk)) {
      sock.pause();
      sock.once("drain", () => sock.resume());
    }
  });
  sock.on("error", () => stats.errors++);
  sock.on("end", () => sock.end());
});

const udp = dgram.createSocket("udp4");
udp.on("message", (msg, rinfo) => {
  stats.datagrams++;
  udp.send(msg, rinfo.port, rinfo.address);
});
udp.on("error", () => stats.errors++);

function stop() {
  console.log(JSON.stringify({ stats }));
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setTimeout(stop, maxSeconds * 1000).unref();

let ready = 0;
const listening = () => {
  if (++ready < 2) return;
  console.log(JSON.stringify({ port: server.address().port, udpPort: udp.address().port }));
};
server.listen({ host: "127.0.0.1", port: 0, backlog }, listening);
udp.bind(0, "127.0.0.1", listening);
