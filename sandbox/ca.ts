/**
 * The sandbox's local certificate authority. The official SDKs refuse plain-http authorities and
 * bearer tokens over http, so every emulated service speaks TLS with a leaf certificate issued by a
 * CA that lives (once, persisted) under `.sandbox/ca` and that callers add to their trust store. The
 * leaf is persisted beside the CA too: signing it with node-forge's pure-JS RSA costs a second or
 * more per process (several under jest), and every test file and child process starts a sandbox.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type forgeModule from 'node-forge';

export interface CertificateAuthority {
  /** Directory holding `ca.pem` and `ca-key.pem`. */
  dir: string;
  certPath: string;
  certPem: string;
  keyPem: string;
}

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
}

const CA_CERT_FILE = 'ca.pem';
const CA_KEY_FILE = 'ca-key.pem';
/** The localhost leaf: its private key and certificate in one file, so one rename replaces both. */
const LEAF_FILE = 'localhost.pem';
const CA_COMMON_NAME = 'fno-graph-mail sandbox CA';
const CA_LIFETIME_DAYS = 3650;
const LEAF_LIFETIME_DAYS = 825;
/** A CA this close to expiry is replaced rather than used for new leaf certificates. */
const CA_RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
/** A stored leaf this close to expiry is reissued. */
const LEAF_RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
/** Names the leaf must answer for. */
const LEAF_HOSTS = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] };

/** node-forge loads only when a certificate has to be made; loading and verifying use Node's own crypto. */
function loadForge(): typeof forgeModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('node-forge') as typeof forgeModule;
}

/** The repository root, found from this module's location so it works from `sandbox/` and `dist/sandbox/`. */
export function repositoryRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        const parsed = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown };
        if (parsed.name === 'fno-graph-mail') return dir;
      } catch {
        // not the manifest we are looking for; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the fno-graph-mail repository root above ${__dirname}`);
    dir = parent;
  }
}

export function defaultCaDir(): string {
  return path.join(repositoryRoot(), '.sandbox', 'ca');
}

/** node-forge writes CRLF; Node's own PEM strings use LF, and trust-store comparisons are textual. */
function lf(pem: string): string {
  return pem.replace(/\r\n/g, '\n');
}

function serialNumber(): string {
  // Positive serial: clear the top bit so DER does not read it as negative.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

/** RSA keys come from Node's native crypto: node-forge's pure-JS key generation takes seconds. */
function newRsaKeyPair(): { privateKey: forgeModule.pki.rsa.PrivateKey; publicKey: forgeModule.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
  const forge = loadForge();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  return {
    privateKey: forgeKey,
    publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e),
    keyPem,
  };
}

function createCaMaterial(): { certPem: string; keyPem: string } {
  const forge = loadForge();
  const keys = newRsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 24 * 3600 * 1000);
  cert.validity.notAfter = new Date(now + CA_LIFETIME_DAYS * 24 * 3600 * 1000);
  const subject = [
    { name: 'commonName', value: CA_COMMON_NAME },
    { name: 'organizationName', value: 'fno-graph-mail sandbox' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: lf(forge.pki.certificateToPem(cert)), keyPem: keys.keyPem };
}

function loadCa(dir: string): CertificateAuthority | undefined {
  const certPath = path.join(dir, CA_CERT_FILE);
  const keyPath = path.join(dir, CA_KEY_FILE);
  if (!fs.existsSync(certPath) || !fs.existsSync(keyPath)) return undefined;
  const certPem = lf(fs.readFileSync(certPath, 'utf8'));
  const keyPem = lf(fs.readFileSync(keyPath, 'utf8'));
  const cert = new X509Certificate(certPem);
  if (cert.validToDate.getTime() - Date.now() < CA_RENEW_BEFORE_MS) return undefined;
  return { dir, certPath, certPem, keyPem };
}

const caCache = new Map<string, CertificateAuthority>();

/**
 * Returns the CA persisted in `dir`, creating it on first use. Synchronous on purpose: jest runs it in
 * `setupFiles`, which cannot await. Several processes may race here (jest workers), so the files are
 * written into a private directory first and renamed into place: the first rename wins and everyone
 * else reads the winner's CA.
 */
export function ensureCa(dir: string = defaultCaDir()): CertificateAuthority {
  const resolved = path.resolve(dir);
  const cached = caCache.get(resolved);
  if (cached) return cached;

  let ca = loadCa(resolved);
  if (!ca) {
    const material = createCaMaterial();
    fs.mkdirSync(path.dirname(resolved), { recursive: true });
    const staging = `${resolved}.staging-${process.pid}-${randomBytes(4).toString('hex')}`;
    fs.mkdirSync(staging, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(staging, CA_KEY_FILE), material.keyPem, { mode: 0o600 });
    fs.writeFileSync(path.join(staging, CA_CERT_FILE), material.certPem, { mode: 0o644 });
    const stale = fs.existsSync(resolved) ? `${resolved}.stale-${process.pid}-${randomBytes(4).toString('hex')}` : undefined;
    if (stale && !loadCa(resolved)) {
      // An expired or incomplete CA: move it aside so the rename below can take its place.
      try {
        fs.renameSync(resolved, stale);
      } catch {
        // another process replaced it first; the rename below then fails and we read theirs
      }
    }
    try {
      fs.renameSync(staging, resolved);
    } catch {
      // lost the race: another process put its CA in place first
    }
    fs.rmSync(staging, { recursive: true, force: true });
    if (stale) fs.rmSync(stale, { recursive: true, force: true });
    ca = loadCa(resolved);
    if (!ca) {
      throw new Error(`the sandbox CA in ${resolved} is incomplete or expired; delete that directory and retry`);
    }
  }
  caCache.set(resolved, ca);
  return ca;
}

const leafCache = new Map<string, ServerCertificate>();

/**
 * The stored leaf, when it is still good for `ca`: issued by it (the CA may have been replaced since),
 * valid now and not near expiry, for the expected names, and its key matches. Anything else reads as
 * absent.
 */
function loadLeaf(file: string, ca: CertificateAuthority): ServerCertificate | undefined {
  let text: string;
  try {
    text = lf(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const keyPem = /-----BEGIN RSA PRIVATE KEY-----\n[\s\S]*?-----END RSA PRIVATE KEY-----\n/.exec(text)?.[0];
  const certPem = /-----BEGIN CERTIFICATE-----\n[\s\S]*?-----END CERTIFICATE-----\n/.exec(text)?.[0];
  if (!keyPem || !certPem) return undefined;
  try {
    const cert = new X509Certificate(certPem);
    const caCert = new X509Certificate(ca.certPem);
    if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) return undefined;
    const now = Date.now();
    if (cert.validFromDate.getTime() > now || cert.validToDate.getTime() - now < LEAF_RENEW_BEFORE_MS) return undefined;
    if (!LEAF_HOSTS.dns.every((h) => cert.checkHost(h) === h) || !LEAF_HOSTS.ip.every((ip) => cert.checkIP(ip) === ip)) return undefined;
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return undefined;
  } catch {
    return undefined;
  }
  return { certPem, keyPem };
}

function signLeaf(ca: CertificateAuthority): ServerCertificate {
  const forge = loadForge();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = newRsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 24 * 3600 * 1000);
  const leafEnd = now + LEAF_LIFETIME_DAYS * 24 * 3600 * 1000;
  cert.validity.notAfter = new Date(Math.min(leafEnd, caCert.validity.notAfter.getTime()));
  cert.setSubject([{ name: 'commonName', value: 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...LEAF_HOSTS.dns.map((value) => ({ type: 2, value })), ...LEAF_HOSTS.ip.map((ip) => ({ type: 7, ip }))],
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: lf(forge.pki.certificateToPem(cert)), keyPem: keys.keyPem };
}

/**
 * A TLS server certificate for `localhost`, `127.0.0.1` and `::1`, signed by `ca`: every sandbox
 * server shares it. Read from `localhost.pem` beside the CA when that one is still good for this CA;
 * otherwise signed anew and stored there. Processes racing here each write a private file and rename
 * it into place: the rename replaces atomically, the last one wins, and every leaf any of them holds
 * is signed by the same CA, so all of them serve valid certificates.
 */
export function issueServerCert(ca: CertificateAuthority): ServerCertificate {
  const cached = leafCache.get(ca.certPem);
  if (cached) return cached;
  const file = path.join(ca.dir, LEAF_FILE);
  let leaf = loadLeaf(file, ca);
  if (!leaf) {
    leaf = signLeaf(ca);
    const staging = `${file}.staging-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      fs.writeFileSync(staging, `${leaf.keyPem}${leaf.certPem}`, { mode: 0o600 });
      fs.renameSync(staging, file);
    } catch {
      // A read-only or vanished CA directory: serve the leaf from memory; the next process signs again.
      fs.rmSync(staging, { force: true });
    }
  }
  leafCache.set(ca.certPem, leaf);
  return leaf;
}
