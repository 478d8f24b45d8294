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

/** What the line names: the program that cannot start, and the npm script that starts it on the right Node. */
export interface NodeVersionSubject {
  program: string;
  command: string;
}

const LOCAL_RUNTIME: NodeVersionSubject = { program: 'The local runtime', command: 'npm start' };

/**
 * The one line to print when this Node cannot run the program, or undefined when it can. `npm start` and
 * `npm run sandbox` (dist/sandbox/main.js, whose certificate checks need Node.js 22.10's X509Certificate dates)
 * print the same line, each naming itself: one minimum for everything that runs locally.
 */
export function nodeVersionProblem(version: string, subject: NodeVersionSubject = LOCAL_RUNTIME): string | undefined {
  if (isAtLeast(version)) return undefined;
  return (
    `${subject.program} needs Node.js ${MINIMUM_NODE} or later; this is Node.js ${version.replace(/^v/, '')}. Start it with ` +
    `\`${subject.command}\`: after \`npm ci\`, npm scripts run on the Node.js 22 of the \`node\` devDependency, first on their PATH.`
  );
}
