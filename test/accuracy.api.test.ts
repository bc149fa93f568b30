import test from 'ava';
import { falseMatchCalibration } from '../src/faces/falseMatchCalibration.ts';
import { falseIdentificationRate, referenceRate } from '../src/faces/falseIdentification.ts';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

const adminToken = 'admin-token-for-tests-0123456789';
const random = seededRandom(1212);
let running: RunningService;
const admin = () => client(running.baseUrl, { authorization: `Bearer ${adminToken}` });
const api = () => client(running.baseUrl, running.auth);
const reference = referenceRate(falseMatchCalibration);

test.before(async () => {
  running = await startService({ ADMIN_TOKEN: adminToken });
});

test.after.always(async () => {
  await running?.stop();
});

test.serial('with targetFalseIdentificationRate, identify raises its threshold as the gallery grows and says what it expects', async (t) => {
  const patched = await admin().call('PATCH', `/admin/tenants/${running.tenantId}`, { settings: { targetFalseIdentificationRate: 0.005 } });
  t.is(patched.status, 200, JSON.stringify(patched.body));
  t.like(patched.body.data.settings, { targetFalseIdentificationRate: 0.005, duplicateThreshold: null, matchThreshold: 0.45 });

  const first = randomVector(random);
  t.is((await api().post('/v1/faces/register', { email: 'one@example.com', descriptor: first })).status, 201);
  const small = (await api().post('/v1/faces/identify', { descriptor: atDistance(first, 0.1, random) })).body.data;
  t.is(small.matches.length, 1);
  t.is(small.adaptedThreshold, 0.45, 'one user: the match threshold already meets the target');
  t.true(small.estimatedFalseIdentificationRate <= 0.005);
  t.is(small.estimatedFalseIdentificationRate, falseIdentificationRate(reference(0.45), 1), 'too few registrations to fit: the calibration curve as is');

  for (let i = 0; i < 5; i++) t.is((await api().post('/v1/faces/register', { email: `more${i}@example.com`, descriptor: randomVector(random) })).status, 201);
  const larger = (await api().post('/v1/faces/identify', { descriptor: randomVector(random) })).body.data;
  t.true(larger.adaptedThreshold > small.adaptedThreshold, `6 users: ${larger.adaptedThreshold}`);
  t.true(larger.estimatedFalseIdentificationRate <= 0.005);
  t.true(falseIdentificationRate(reference(larger.adaptedThreshold - 0.005), 6) > 0.005, 'the lowest threshold meeting the target');
  // A request's own threshold is used as it is, and its estimate is reported.
  const own = (await api().post('/v1/faces/identify', { descriptor: randomVector(random), threshold: 0.4 })).body.data;
  t.is(own.adaptedThreshold, 0.4);
  t.true(own.estimatedFalseIdentificationRate > 0.005);

  const accuracy = await admin().get(`/admin/tenants/${running.tenantId}/accuracy`);
  t.is(accuracy.status, 200, JSON.stringify(accuracy.body));
  t.like(accuracy.body.data, { tenantId: running.tenantId, mode: 'live', gallerySize: 6, matchThreshold: 0.45, targetFalseIdentificationRate: 0.005, effectiveThreshold: larger.adaptedThreshold, targetMet: true, duplicateThreshold: larger.adaptedThreshold });
  t.is(accuracy.body.data.calibration.impostorPairs, falseMatchCalibration.impostorPairs);
  t.true(accuracy.body.data.curve.length > 5);
  const rates = accuracy.body.data.curve.map((point: { falseIdentificationRate: number }) => point.falseIdentificationRate);
  t.deepEqual(rates, [...rates].sort((a: number, b: number) => b - a), 'the curve falls as the threshold rises');
  const test = await admin().get(`/admin/tenants/${running.tenantId}/accuracy?mode=test`);
  t.is(test.body.data.gallerySize, 0, 'the test data set is its own gallery');
  const bad = await admin().get(`/admin/tenants/${running.tenantId}/accuracy?mode=staging`);
  t.is(bad.status, 400);
  t.is(bad.body.error.details.field, 'mode');
});

test.serial('the record of nearest other users survives a restart', async (t) => {
  running = await running.restart();
  const accuracy = (await admin().get(`/admin/tenants/${running.tenantId}/accuracy`)).body.data;
  // Six registrations, five of them with another user to compare with.
  t.is(accuracy.fit.observations, 5);
  t.is(accuracy.gallerySize, 6);
});

test.serial('verify takes targetFalseMatchRate through the calibration table, never below the match threshold', async (t) => {
  const face = randomVector(random);
  const registered = await api().post('/v1/faces/register', { email: 'verify@example.com', descriptor: face });
  t.is(registered.status, 201, JSON.stringify(registered.body));
  const userId = registered.body.data.userId;
  const strict = await api().post('/v1/faces/verify', { userId, descriptor: atDistance(face, 0.2, random), targetFalseMatchRate: 1e-3 });
  t.is(strict.status, 200, JSON.stringify(strict.body));
  t.true(strict.body.data.isMatch);
  t.true(strict.body.data.estimatedFalseMatchRate <= 1e-3);
  t.true(reference(strict.body.data.adaptedThreshold - 0.005) > 1e-3 || strict.body.data.adaptedThreshold === 0.45, `threshold ${strict.body.data.adaptedThreshold}`);
  const loose = await api().post('/v1/faces/verify', { userId, descriptor: atDistance(face, 0.2, random), targetFalseMatchRate: 0.1 });
  t.is(loose.body.data.adaptedThreshold, 0.45, "the tenant's match threshold is the floor");
  const tooSmall = await api().post('/v1/faces/verify', { userId, descriptor: face, targetFalseMatchRate: 1e-7 });
  t.is(tooSmall.status, 400);
  t.is(tooSmall.body.error.details.field, 'targetFalseMatchRate');
  const both = await api().post('/v1/faces/verify', { userId, descriptor: face, targetFalseMatchRate: 1e-3, threshold: 0.5 });
  t.is(both.status, 400);
  t.is(both.body.error.details.field, 'targetFalseMatchRate');
});
