/**
 * `GET /api/dashboard`: the fleet dashboard page, served without a key. The page holds no data and no
 * key: it reads the HTTP API from the browser with the function key the person gives it (in `?code=`,
 * which it then removes from the address bar and history, or in its own form), kept in this tab only.
 * The response locks the page down (CSP by hash, no caching, no sniffing, no referrer, no framing).
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
