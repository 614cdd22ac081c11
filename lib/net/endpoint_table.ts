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
      "curl --json '{\"drain\":true}' http://{dashboard}/api/sink/drain",
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

/** How the tables' lines spell the CLI; {@linkcode tryItLine} respells it as the service runs. */
export const CLIENT_COMMAND = "deno task client";

/**
 * Fills `{host}`, `{port}` and `{dashboard}` in a try-it line, and spells a leading
 * `deno task client` as `client` (see {@linkcode clientCommand}), so the line runs where the
 * service runs.
 */
export function tryItLine(
  line: string,
  host: string,
  port: number,
  dashboard: string,
  client: string = CLIENT_COMMAND,
): string {
  const filled = line.replaceAll("{host}", host).replaceAll("{port}", String(port)).replaceAll(
    "{dashboard}",
    dashboard,
  );
  return client !== CLIENT_COMMAND && filled.startsWith(`${CLIENT_COMMAND} `)
    ? client + filled.slice(CLIENT_COMMAND.length)
    : filled;
}

/** How the running service was launched, for {@linkcode clientCommand}. */
export interface Launch {
  /** Deno's version, as `Deno.version.deno` tells. */
  version: string;
  /** npm's `npm_command` variable, which `npx` sets to `exec` for everything it starts. */
  npmCommand?: string;
}

/**
 * The command that runs the CLI where the service runs: `npx -y deno@VERSION task client` when
 * the service was started through npx (the README's Node-only set-up, where the user's shell may
 * have no `deno`), else `deno task client`. The banner, `/api/endpoints` and every page print
 * their lines with this one rule. (Where deno lives says nothing: a `deno` on PATH may itself
 * sit in npx's cache.)
 */
export function clientCommand(launch: Launch): string {
  return launch.npmCommand === "exec"
    ? `npx -y deno@${launch.version} task client`
    : CLIENT_COMMAND;
}
