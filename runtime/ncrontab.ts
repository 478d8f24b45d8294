/**
 * NCRONTAB schedules as the timer trigger reads them: `{second} {minute} {hour} {day} {month}
 * {day-of-week}` (a five-field form without seconds is accepted too), with `*`, numbers, ranges
 * `a-b`, steps `*\/n` and `a-b/n`, lists, and month/day names. Like NCrontab, day-of-month and
 * day-of-week must both match. Times are UTC.
 */

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

export interface CronSchedule {
  expression: string;
  seconds: ReadonlySet<number>;
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  days: ReadonlySet<number>;
  months: ReadonlySet<number>;
  daysOfWeek: ReadonlySet<number>;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  label: string;
  min: number;
  max: number;
  names?: string[];
  /** First value the names map to (1 for months, 0 for days). */
  nameBase?: number;
}

const SECOND: FieldSpec = { label: 'second', min: 0, max: 59 };
const MINUTE: FieldSpec = { label: 'minute', min: 0, max: 59 };
const HOUR: FieldSpec = { label: 'hour', min: 0, max: 23 };
const DAY: FieldSpec = { label: 'day', min: 1, max: 31 };
const MONTH: FieldSpec = { label: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 };
const WEEKDAY: FieldSpec = { label: 'day of week', min: 0, max: 7, names: DAYS, nameBase: 0 };

function parseValue(text: string, spec: FieldSpec, expression: string): number {
  const upper = text.toUpperCase();
  const nameIndex = spec.names?.indexOf(upper.slice(0, 3)) ?? -1;
  if (spec.names && nameIndex >= 0 && /^[A-Z]+$/.test(upper)) return nameIndex + (spec.nameBase ?? 0);
  if (!/^\d+$/.test(text)) throw new ScheduleError(`The schedule expression '${expression}' has an invalid ${spec.label} '${text}'.`);
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw new ScheduleError(`The schedule expression '${expression}' has a ${spec.label} out of range: ${value} (${spec.min}-${spec.max}).`);
  }
  return value;
}

function parseField(field: string, spec: FieldSpec, expression: string): Set<number> {
  const values = new Set<number>();
  for (const item of field.split(',')) {
    if (item === '') throw new ScheduleError(`The schedule expression '${expression}' has an empty list item.`);
    const [rangePart = '', stepPart] = item.split('/');
    let step = 1;
    if (stepPart !== undefined) {
      if (!/^\d+$/.test(stepPart) || Number(stepPart) === 0) throw new ScheduleError(`The schedule expression '${expression}' has an invalid step '${stepPart}'.`);
      step = Number(stepPart);
    }
    let from: number;
    let to: number;
    if (rangePart === '*' || rangePart === '?') {
      from = spec.min;
      to = spec === WEEKDAY ? 6 : spec.max;
    } else if (rangePart.includes('-')) {
      const [a = '', b = ''] = rangePart.split('-');
      from = parseValue(a, spec, expression);
      to = parseValue(b, spec, expression);
      if (to < from) throw new ScheduleError(`The schedule expression '${expression}' has a reversed range '${rangePart}'.`);
    } else {
      from = parseValue(rangePart, spec, expression);
      to = stepPart !== undefined ? (spec === WEEKDAY ? 6 : spec.max) : from;
    }
    for (let v = from; v <= to; v += step) values.add(spec === WEEKDAY && v === 7 ? 0 : v);
  }
  return values;
}

export function parseSchedule(expression: string): CronSchedule {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6 && fields.length !== 5) {
    throw new ScheduleError(`The schedule expression '${expression}' must have 6 fields (second minute hour day month day-of-week).`);
  }
  const [sec, min, hour, day, month, dow] = fields.length === 6 ? fields : ['0', ...fields];
  return {
    expression,
    seconds: parseField(sec ?? '', SECOND, expression),
    minutes: parseField(min ?? '', MINUTE, expression),
    hours: parseField(hour ?? '', HOUR, expression),
    days: parseField(day ?? '', DAY, expression),
    months: parseField(month ?? '', MONTH, expression),
    daysOfWeek: parseField(dow ?? '', WEEKDAY, expression),
  };
}

/** The first occurrence strictly after `afterMs` (epoch ms, UTC), or undefined within the next ten years. */
export function nextOccurrence(schedule: CronSchedule, afterMs: number): number | undefined {
  let t = new Date((Math.floor(afterMs / 1000) + 1) * 1000);
  const limit = afterMs + 10 * 366 * 24 * 3600 * 1000;
  while (t.getTime() <= limit) {
    const y = t.getUTCFullYear();
    const mo = t.getUTCMonth();
    const d = t.getUTCDate();
    const h = t.getUTCHours();
    const mi = t.getUTCMinutes();
    if (!schedule.months.has(mo + 1)) {
      t = new Date(Date.UTC(y, mo + 1, 1));
      continue;
    }
    if (!schedule.days.has(d) || !schedule.daysOfWeek.has(t.getUTCDay())) {
      t = new Date(Date.UTC(y, mo, d + 1));
      continue;
    }
    if (!schedule.hours.has(h)) {
      t = new Date(Date.UTC(y, mo, d, h + 1));
      continue;
    }
    if (!schedule.minutes.has(mi)) {
      t = new Date(Date.UTC(y, mo, d, h, mi + 1));
      continue;
    }
    if (!schedule.seconds.has(t.getUTCSeconds())) {
      t = new Date(t.getTime() + 1000);
      continue;
    }
    return t.getTime();
  }
  return undefined;
}
