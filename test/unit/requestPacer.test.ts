import { RequestPacer } from '../../src/clients/requestPacer';

/** A clock that moves only when the pacer sleeps. */
function fakeTime(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[] } {
  let t = 1_000_000;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: (ms) => {
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
    slept,
  };
}

it('lets at most `limit` requests into any window, in the order they asked', async () => {
  const time = fakeTime();
  const pacer = new RequestPacer({ limit: 5, windowMs: 10_000, now: time.now, sleep: time.sleep });
  const sentAt: Array<{ i: number; at: number }> = [];
  await Promise.all(Array.from({ length: 12 }, (_, i) => pacer.turn().then(() => sentAt.push({ i, at: time.now() }))));
  expect(sentAt.map((s) => s.i)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  for (const s of sentAt) expect(sentAt.filter((o) => o.at > s.at - 10_000 && o.at <= s.at).length).toBeLessThanOrEqual(5);
  // The first five go at once; then one by one as the first of the window leaves it.
  expect(sentAt.slice(0, 5).every((s) => s.at === 1_000_000)).toBe(true);
  expect(sentAt[5]?.at).toBe(1_010_001);
  expect(sentAt[11]?.at).toBeLessThan(1_030_010);
});

it('does not wait while the window has room', async () => {
  const time = fakeTime();
  const pacer = new RequestPacer({ limit: 5, windowMs: 10_000, now: time.now, sleep: time.sleep });
  for (let i = 0; i < 5; i++) await pacer.turn();
  expect(time.slept).toEqual([]);
});
