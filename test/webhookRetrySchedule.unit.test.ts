import test from 'ava';
import { defaultSchedule, maxAttempts, nextAttempt } from '../src/webhooks/retrySchedule.ts';

const t0 = new Date('2026-11-26T10:00:00.000Z');
const plus = (ms: number) => new Date(t0.getTime() + ms);

test('the default schedule tries at once, then 1 min, 5 min, 30 min and 2 h after each failure, then fails', (t) => {
  t.is(maxAttempts(), 5);
  t.deepEqual(nextAttempt(0, t0), t0);
  t.deepEqual(nextAttempt(1, t0), plus(60_000));
  t.deepEqual(nextAttempt(2, t0), plus(5 * 60_000));
  t.deepEqual(nextAttempt(3, t0), plus(30 * 60_000));
  t.deepEqual(nextAttempt(4, t0), plus(2 * 3_600_000));
  t.is(nextAttempt(5, t0), 'failing');
  t.is(nextAttempt(6, t0), 'failing');
  t.deepEqual(nextAttempt(1, t0, defaultSchedule), plus(60_000));
});

test('a custom schedule in milliseconds decides both the delays and the number of attempts', (t) => {
  const schedule = { delaysMs: [5, 10] };
  t.is(maxAttempts(schedule), 3);
  t.deepEqual(nextAttempt(1, t0, schedule), plus(5));
  t.deepEqual(nextAttempt(2, t0, schedule), plus(10));
  t.is(nextAttempt(3, t0, schedule), 'failing');
  t.is(nextAttempt(1, t0, { delaysMs: [] }), 'failing', 'no retries: one attempt only');
});

test('nextAttempt is pure and refuses nonsense', (t) => {
  const before = t0.getTime();
  nextAttempt(2, t0);
  t.is(t0.getTime(), before);
  t.throws(() => nextAttempt(-1, t0), { instanceOf: RangeError });
  t.throws(() => nextAttempt(1.5, t0), { instanceOf: RangeError });
  t.throws(() => nextAttempt(1, t0, { delaysMs: [-5] }), { instanceOf: RangeError });
});
