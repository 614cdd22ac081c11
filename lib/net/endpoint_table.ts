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
  {
    name: "chat",
    transport: "tcp",
    defaultPort: 65437,
    description: 'Chat room: 64-byte length header, "Msg received", !DISCONNECT; !JOIN for relays',
    tryIt: [
      "deno task client chat --port {port}",
      "printf '%-64s%s' 5 hello | nc {host} {port}",
      "(printf '%-64s%s' 5 '!JOIN'; cat) | nc {host} {port}",
    ],
  },
  {
    name: "clients",
    transport: "tcp",
    defaultPort: 65438,
    description: "Send your name, get the JSON list of every client seen so far",
    tryIt: ["echo alice | nc {host} {port}", "deno task client clients --port {port} alice"],
  },
  {
    name: "reverse",
    transport: "tcp",
    defaultPort: 65439,
    description: "Answers its first read (up to 1,024 bytes) reversed, then closes",
    tryIt: [
      "printf 'Hello, world!' | nc -N {host} {port}",
      'deno task client reverse --port {port} "Hello, world!"',
    ],
  },
  {
    name: "http-hello",
    transport: "tcp",
    defaultPort: 65440,
    description: "A raw socket answering a browser with a hand-written HTTP response",
    tryIt: [
      "curl -v http://{host}:{port}/",
      "printf 'GET / HTTP/1.1\\r\\n\\r\\n' | nc {host} {port}",
    ],
  },
  {
    name: "frame-fixed",
    transport: "tcp",
    defaultPort: 65441,
    description: "Framing lab: fixed 30-byte records padded with #, as seed 002; echoed whole",
    tryIt: [
      "printf 'Hello, world!#################' | nc {host} {port}",
      'deno task client frame --kind fixed --port {port} --bytewise "hello" "world"',
    ],
  },
  {
    name: "frame-delimited",
    transport: "tcp",
    defaultPort: 65442,
    description: "Framing lab: messages ended by #*#, as seed 002; echoed whole",
    tryIt: [
      "printf 'Hello, world!#*#one#*#two#*#' | nc {host} {port}",
      'deno task client frame --kind delimited --port {port} "a" "b"',
    ],
  },
  {
    name: "frame-prefixed",
    transport: "tcp",
    defaultPort: 65443,
    description: "Framing lab: a 5-digit ASCII length prefix, then the message, echoed whole",
    tryIt: [
      "printf '00005hello00005world' | nc {host} {port}",
      'deno task client frame --kind prefixed --port {port} "hello" "world"',
    ],
  },
  {
    name: "frame-close",
    transport: "tcp",
    defaultPort: 65444,
    description: "Framing lab: the message ends when the client half-closes; echoed, then closed",
    tryIt: [
      "printf 'hello' | nc -N {host} {port}",
      'deno task client frame --kind close --port {port} "hello"',
    ],
  },
  {
    name: "discard",
    transport: "tcp",
    defaultPort: 65445,
    description: "Discard (RFC 863): reads and drops everything, for throughput tests",
    tryIt: [
      "head -c 100M /dev/zero | nc -N {host} {port}",
      "deno task client discard --port {port} --bytes 100000000",
    ],
  },
  {
    name: "chargen",
    transport: "tcp",
    defaultPort: 65446,
    description: "Chargen (RFC 864): the 72-char rotating pattern, as fast as you read",
    tryIt: [
      "nc {host} {port} | head -c 740",
      "deno task client chargen --port {port} --bytes 100000000",
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
