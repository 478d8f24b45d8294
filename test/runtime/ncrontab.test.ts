/**
 * NCRONTAB schedules: six fields with seconds, steps, ranges, lists and names, evaluated in UTC with
 * day-of-month and day-of-week both required to match.
 */
import { nextOccurrence, parseSchedule, ScheduleError } from '../../runtime/ncrontab';

const at = (iso: string): number => Date.parse(iso);
const next = (expression: string, after: string): string | undefined => {
  const t = nextOccurrence(parseSchedule(expression), at(after));
  return t === undefined ? undefined : new Date(t).toISOString();
};

describe('NCRONTAB', () => {
  it('steps through seconds and minutes', () => {
    expect(next('*/15 * * * * *', '2030-01-01T00:00:00.000Z')).toBe('2030-01-01T00:00:15.000Z');
    expect(next('0 */5 * * * *', '2030-01-01T00:00:00.000Z')).toBe('2030-01-01T00:05:00.000Z');
    expect(next('0 */5 * * * *', '2030-01-01T00:04:59.999Z')).toBe('2030-01-01T00:05:00.000Z');
  });

  it('is strictly after the given time', () => {
    expect(next('0 0 * * * *', '2030-01-01T05:00:00.000Z')).toBe('2030-01-01T06:00:00.000Z');
  });

  it('handles ranges, lists and day names', () => {
    expect(next('0 30 9-17/4 * * MON-FRI', '2030-01-04T14:00:00.000Z')).toBe('2030-01-04T17:30:00.000Z'); // 9, 13, 17
    expect(next('0 30 9-17/4 * * MON-FRI', '2030-01-04T18:00:00.000Z')).toBe('2030-01-07T09:30:00.000Z'); // Fri 2030-01-04 → Mon
    expect(next('0 0 6,18 * * *', '2030-01-01T07:00:00.000Z')).toBe('2030-01-01T18:00:00.000Z');
    expect(next('0 0 0 1 JAN,JUL *', '2030-02-01T00:00:00.000Z')).toBe('2030-07-01T00:00:00.000Z');
  });

  it('requires both day of month and day of week to match', () => {
    // The 13th that is a Friday: 2030-09-13.
    expect(next('0 0 0 13 * 5', '2030-01-01T00:00:00.000Z')).toBe('2030-09-13T00:00:00.000Z');
  });

  it('accepts the five-field form without seconds', () => {
    expect(next('30 2 * * *', '2030-01-01T00:00:00.000Z')).toBe('2030-01-01T02:30:00.000Z');
  });

  it('finds nothing for impossible dates', () => {
    expect(next('0 0 0 30 2 *', '2030-01-01T00:00:00.000Z')).toBeUndefined();
  });

  it('rejects malformed expressions with a message naming the expression', () => {
    expect(() => parseSchedule('0 */5 * * *  * *')).toThrow(ScheduleError);
    expect(() => parseSchedule('0 61 * * * *')).toThrow("The schedule expression '0 61 * * * *' has a minute out of range: 61 (0-59).");
    expect(() => parseSchedule('0 */0 * * * *')).toThrow(ScheduleError);
  });
});
