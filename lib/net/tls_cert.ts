/**
 * The TLS endpoint's certificate: read from `--tls-cert`/`--tls-key`, or made once at start.
 * Deno has no X.509 writer, so a self-signed certificate comes from `openssl req -x509`
 * (an EC P-256 key: 14-156 ms, median 50 ms measured, once, off the hot path). Without openssl and without the
 * flags the endpoint cannot start, and the service says so rather than failing as a whole.
 */
import { createHash } from "node:crypto";

/** A certificate and key in PEM, and what the banner says about them. */
export interface TlsCertificate {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
  /** "generated" when made at start (self-signed), else the certificate's file. */
  source: string;
}

/** Options for {@linkcode selfSignedCertificate}. */
export interface SelfSignedOptions {
  /** Names and addresses the certificate is valid for (subjectAltName). @default localhost, 127.0.0.1, ::1 */
  hosts?: readonly string[];
  /** Days it is valid. @default 30 */
  days?: number;
  /** The openssl binary. @default "openssl" */
  openssl?: string;
}

/**
 * The SHA-256 fingerprint of the first certificate in `pem`, colon-separated upper-case hex.
 * Throws SyntaxError when `pem` holds no certificate.
 */
export function fingerprintOf(pem: string): string {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  if (match === null) throw new SyntaxError("Cannot read certificate: no PEM CERTIFICATE block");
  const der = Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const hex = createHash("sha256").update(der).digest("hex").toUpperCase();
  return hex.match(/../g)!.join(":");
}

/** Reads a certificate and key from PEM files (`--tls-cert`, `--tls-key`). */
export function readCertificate(certPath: string, keyPath: string): TlsCertificate {
  const certPem = Deno.readTextFileSync(certPath);
  const keyPem = Deno.readTextFileSync(keyPath);
  return { certPem, keyPem, fingerprint: fingerprintOf(certPem), source: certPath };
}

/**
 * Makes a self-signed server certificate with `openssl req -x509`. It is an end-entity
 * certificate (CA:FALSE, serverAuth): rustls, behind `Deno.connectTls`, refuses a CA
 * certificate presented as the server's own. Throws Deno.errors.NotFound without openssl.
 */
export function selfSignedCertificate(options: SelfSignedOptions = {}): TlsCertificate {
  const hosts = options.hosts ?? ["localhost", "127.0.0.1", "::1"];
  const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  const dir = Deno.makeTempDirSync({ prefix: "sockscope-tls-" });
  try {
    const out = new Deno.Command(options.openssl ?? "openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        String(options.days ?? 30),
        "-subj",
        "/CN=sockscope",
        "-addext",
        `subjectAltName=${san}`,
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (!out.success) {
      const why = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
      throw new Error(`Cannot make a certificate: openssl exited with ${out.code}: ${why}`);
    }
    const certPem = Deno.readTextFileSync(`${dir}/cert.pem`);
    const keyPem = Deno.readTextFileSync(`${dir}/key.pem`);
    return { certPem, keyPem, fingerprint: fingerprintOf(certPem), source: "generated" };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
