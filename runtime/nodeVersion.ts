/**
 * The Node.js the local runtime needs, checked before anything else loads: the sandbox CA is trusted
 * in-process with `tls.getCACertificates` / `tls.setDefaultCACertificates`, which Node.js has from 22.19 on.
 * Under an older Node the start fails with one line that says which Node is needed and how `npm start`
 * provides it, instead of a TypeError from deep inside.
 */
export const MINIMUM_NODE = '22.19.0';

function parts(version: string): [number, number, number] {
  const [major = 0, minor = 0, patch = 0] = version.replace(/^v/, '').split('.').map((p) => Number.parseInt(p, 10) || 0);
  return [major, minor, patch];
}

/** True when `version` (e.g. `v20.20.2`) is at least `minimum`. */
export function isAtLeast(version: string, minimum: string = MINIMUM_NODE): boolean {
  const [a, b, c] = parts(version);
  const [x, y, z] = parts(minimum);
  return a !== x ? a > x : b !== y ? b > y : c >= z;
}

/** The one line to print when this Node cannot run the local runtime, or undefined when it can. */
export function nodeVersionProblem(version: string): string | undefined {
  if (isAtLeast(version)) return undefined;
  return (
    `The local runtime needs Node.js ${MINIMUM_NODE} or later; this is Node.js ${version.replace(/^v/, '')}. Start it with ` +
    '`npm start`: after `npm ci`, npm scripts run on the Node.js 22 of the `node` devDependency, first on their PATH.'
  );
}
