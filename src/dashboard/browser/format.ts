/**
 * Times as the page shows them: absolute dates in the reader's locale, and distances ("in 3 days",
 * "5 minutes ago") measured from the app's clock, which may run ahead of the browser's (the sandbox
 * moves its virtual clock).
 */

export const DAY_MS = 86_400_000;

export interface Formats {
  /** "in 3 days" / "3 days ago". */
  relative(ms: number): string;
  date(ms: number): string;
  /** Date and time of an ISO string, or "unknown". */
  dateTime(iso: string): string;
  /** Distance from now of an ISO string, or "unknown". */
  ago(iso: string): string;
  /** Date, time and distance of an ISO string, or "unknown". */
  when(iso: string): string;
  /** Time of day (of the browser's clock), for "Updated …". */
  time(at: Date): string;
}

export function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** `now` is the app's clock in milliseconds; `locale` undefined means the reader's. */
export function createFormats(now: () => number, locale?: string): Formats {
  const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: 'medium' });
  const dateTimeFormat = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
  const timeFormat = new Intl.DateTimeFormat(locale, { timeStyle: 'medium' });

  const relative = (ms: number): string => {
    const abs = Math.abs(ms);
    let text: string;
    if (abs < 60_000) text = 'less than a minute';
    else if (abs < 3_600_000) text = plural(Math.round(abs / 60_000), 'minute');
    else if (abs < 2 * DAY_MS) text = plural(Math.round(abs / 3_600_000), 'hour');
    else text = plural(Math.round(abs / DAY_MS), 'day');
    return ms >= 0 ? `in ${text}` : `${text} ago`;
  };

  return {
    relative,
    date: (ms) => dateFormat.format(ms),
    dateTime: (iso) => {
      const t = Date.parse(iso);
      return Number.isNaN(t) ? 'unknown' : dateTimeFormat.format(t);
    },
    ago: (iso) => {
      const t = Date.parse(iso);
      return Number.isNaN(t) ? 'unknown' : relative(t - now());
    },
    when: (iso) => {
      const t = Date.parse(iso);
      return Number.isNaN(t) ? 'unknown' : `${dateTimeFormat.format(t)} (${relative(t - now())})`;
    },
    time: (at) => timeFormat.format(at),
  };
}
