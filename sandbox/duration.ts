/**
 * ISO 8601 durations as the sandbox reads them: the control API's clock moves and app management
 * policies' `maxLifetime` (`P90D`, `P4DT12H30M5S`).
 */
const DAY_MS = 24 * 3600 * 1000;
/** Calendar-free approximations: a year is 365 days, a month 30 days. */
const UNIT_MS = { Y: 365 * DAY_MS, M: 30 * DAY_MS, W: 7 * DAY_MS, D: DAY_MS, h: 3600 * 1000, m: 60 * 1000, s: 1000 };
const NUM = String.raw`(\d+(?:[.,]\d+)?)`;
const DURATION = new RegExp(`^P(?:${NUM}Y)?(?:${NUM}M)?(?:${NUM}W)?(?:${NUM}D)?(?:T(?:${NUM}H)?(?:${NUM}M)?(?:${NUM}S)?)?$`, 'i');

/**
 * Parses an ISO 8601 duration (`PnYnMnWnDTnHnMnS`, any subset, `P30D`, `PT12H`, `P2W`) into
 * milliseconds. Years count 365 days and months 30 days. Returns undefined when malformed.
 */
export function parseIsoDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const parts = m.slice(1);
  if (parts.every((p) => p === undefined)) return undefined;
  if (/T$/i.test(text.trim())) return undefined;
  const units = [UNIT_MS.Y, UNIT_MS.M, UNIT_MS.W, UNIT_MS.D, UNIT_MS.h, UNIT_MS.m, UNIT_MS.s];
  let total = 0;
  parts.forEach((p, i) => {
    if (p !== undefined) total += Number(p.replace(',', '.')) * (units[i] ?? 0);
  });
  return Math.round(total);
}

