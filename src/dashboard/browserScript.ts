/**
 * The dashboard's browser script as page.ts inlines it: `src/dashboard/browser/main.ts` and what it
 * imports, bundled into one IIFE by `npm run build` (scripts/bundleDashboard.ts) and written beside
 * this module's compiled output, so the deployed `dist/src` holds it and nothing at run time needs
 * the bundler. Under jest, which runs the sources, test/helpers/dashboardScript.ts stands in for this
 * module and bundles the sources in memory (jest.config.js, moduleNameMapper).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** The bundle's file name, beside this module. */
export const DASHBOARD_SCRIPT_FILE = 'dashboard.js';

export function readDashboardScript(): string {
  const file = path.join(__dirname, DASHBOARD_SCRIPT_FILE);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`The dashboard's browser script ${file} is missing: \`npm run build\` bundles it.`, { cause: error });
  }
}
