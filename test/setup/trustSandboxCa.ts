/**
 * Jest setup (every worker, before any test file): makes this process trust the sandbox CA, so the
 * official SDKs' HTTPS calls to the in-process sandbox verify like calls to the real cloud. Both
 * Node's https module (@azure/identity, @azure/keyvault-secrets) and global fetch (undici, used by
 * the Graph client) read Node's default CA list per new TLS connection, so adding the CA here is
 * enough; test/sandbox/control.test.ts checks both paths. Child processes need NODE_EXTRA_CA_CERTS.
 */
import * as tls from 'node:tls';
import { ensureCa } from '../../sandbox/ca';

const ca = ensureCa();
const trusted = tls.getCACertificates('default');
if (!trusted.includes(ca.certPem)) {
  tls.setDefaultCACertificates([...trusted, ca.certPem]);
}
