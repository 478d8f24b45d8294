/**
 * `GET /api/dashboard`: the fleet dashboard page. The page holds no data and no key: it reads the
 * public HTTP API from the browser with the key of its own URL. The response locks the page down
 * (CSP by hash, no caching, no sniffing, no referrer) because the URL it was opened with carries a key.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AppConfig } from '../config';
import { now as clockNow } from '../clock';
import { dashboardAssets, renderDashboard } from '../dashboard/page';

export function dashboardHeaders(): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': dashboardAssets().csp,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
  };
}

export function createDashboardHandler(getConfig: () => AppConfig) {
  return function dashboardHttp(_request: HttpRequest, _context: InvocationContext): HttpResponseInit {
    const config = getConfig();
    const body = renderDashboard({ rotationLeadDays: config.rotation.leadDays, serverTime: new Date(clockNow()).toISOString() });
    return { status: 200, headers: dashboardHeaders(), body };
  };
}
