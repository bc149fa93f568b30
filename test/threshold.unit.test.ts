import test from 'ava';
import { adaptThreshold, similarityFromDistance } from '../src/faces/threshold.ts';

test('poor light lowers the threshold by 0.05 down to 0.35', (t) => {
  t.is(adaptThreshold(0.45, 0.2), 0.4);
  t.is(adaptThreshold(0.38, 0.39), 0.35);
  t.is(adaptThreshold(0.45, 0.4), 0.45, '0.4 itself is not poor');
});

test('bright light raises the threshold by 0.02, capped at 0.6 unless the base is higher', (t) => {
  t.is(adaptThreshold(0.45, 0.9), 0.47);
  t.is(adaptThreshold(0.59, 0.81), 0.6);
  t.is(adaptThreshold(0.7, 0.95), 0.7);
  t.is(adaptThreshold(0.45, 0.8), 0.45, '0.8 itself is not bright');
});

test('no lighting score keeps the base', (t) => {
  t.is(adaptThreshold(0.5), 0.5);
});

test('similarity is one minus the distance, never below zero', (t) => {
  t.is(similarityFromDistance(0.3), 0.7);
  t.is(similarityFromDistance(1.4), 0);
});
