/**
 * Stands in for src/dashboard/browserScript under jest (jest.config.js maps page.ts's import of it
 * here): jest runs the TypeScript sources, where no bundle was built, so the first test that renders
 * the dashboard bundles the browser sources in memory with esbuild's synchronous API, the same call
 * `npm run build` makes. No prior build is needed and the bundle always matches the sources.
 */
import * as path from 'node:path';
import type * as built from '../../src/dashboard/browserScript';
import { bundleDashboardScript } from '../../scripts/bundleDashboard';

const root = path.join(__dirname, '..', '..');
let script: string | undefined;

export { DASHBOARD_SCRIPT_FILE } from '../../src/dashboard/browserScript';

export const readDashboardScript: typeof built.readDashboardScript = () => (script ??= bundleDashboardScript(root));
