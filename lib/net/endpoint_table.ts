/** Every endpoint the service hosts, in one table: name, transport, default port, lesson. */

/** One endpoint's identity and how to try it. */
export interface EndpointSpec {
  name: string;
  transport: "tcp" | "udp";
  defaultPort: number;
  /** One sentence for the banner and the overview. */
  description: string;
  /** Shell lines to try it; `{host}` and `{port}` are filled in with the real address. */
  tryIt: readonly string[];
}

/** The endpoints in port order; later issues append theirs from 65437 up. */
export const ENDPOINTS: readonly EndpointSpec[] = [
  {
    name: "echo",
    transport: "tcp",
    defaultPort: 65432,
    description: "Echoes every byte back, many clients at once",
    tryIt: ["nc {host} {port}", 'deno task client echo --port {port} "Hello, world"'],
  },
  {
    name: "multiconn",
    transport: "tcp",
    defaultPort: 65433,
    description: "Echo that counts each connection's messages, for the multiconn client",
    tryIt: ["nc {host} {port}", "deno task client multiconn --port {port} --conns 4"],
  },
  {
    name: "app",
    transport: "tcp",
    defaultPort: 65434,
    description: "The tutorial's application protocol: 2-byte length, JSON header, content",
    tryIt: [
      "deno task client app --port {port} search morpheus",
      "deno task client app --port {port} binary 😃",
    ],
  },
  {
    name: "udp",
    transport: "udp",
    defaultPort: 65435,
    description: "Echoes each datagram to its sender; per-peer flows",
    tryIt: ["nc -u {host} {port}", "deno task client udp --port {port} hello"],
  },
  {
    name: "sink",
    transport: "tcp",
    defaultPort: 65436,
    description: "Accepts and never reads until drained, so Recv-Q and the writer's Send-Q fill",
    tryIt: [
      "deno task client sink --port {port}",
      "curl -X POST -d '{\"drain\":true}' http://{dashboard}/api/sink/drain",
    ],
  },
];

/** Fills `{host}`, `{port}` and `{dashboard}` in a try-it line. */
export function tryItLine(line: string, host: string, port: number, dashboard: string): string {
  return line.replaceAll("{host}", host).replaceAll("{port}", String(port)).replaceAll(
    "{dashboard}",
    dashboard,
  );
}
