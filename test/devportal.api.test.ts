import test from 'ava';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { startService, type RunningService } from './support/service.ts';

const random = seededRandom(77);
let running: RunningService;

test.before(async () => {
  running = await startService();
});

test.after.always(async () => {
  await running?.stop();
});

/** Calls the way the shipped FaceSmashApiClient does: X-API-Key, JSON, and the status ignored. */
async function sdk(method: string, path: string, body?: unknown, key = running.liveKey): Promise<any> {
  const response = await fetch(`${running.baseUrl}${path}`, {
    method,
    headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return response.json();
}

test.serial('the SDK flow: register, status, match, users, unlink', async (t) => {
  const appId = 'my-app';
  const face = randomVector(random);
  const registered = await sdk('POST', '/api/devportal/register', { email: 'Sdk.User@example.com', fullName: 'Sdk User', descriptor: face, qualityScore: 0.8, appId });
  t.like(registered, { success: true, created: true, updated: false });
  t.regex(registered.profileId, /^usr_/);
  const again = await sdk('POST', '/api/devportal/register', { email: 'sdk.user@example.com', descriptor: atDistance(face, 0.1, random), appId });
  t.like(again, { success: true, created: false, updated: true, profileId: registered.profileId });

  const status = await sdk('GET', `/api/devportal/register?email=${encodeURIComponent('sdk.user@example.com')}&appId=${appId}`);
  t.like(status, { registered: true, verified: false, profileId: registered.profileId });
  t.false(Number.isNaN(Date.parse(status.createdAt)));
  t.deepEqual(await sdk('GET', `/api/devportal/register?email=nobody@example.com&appId=${appId}`), { registered: false });

  const match = await sdk('POST', '/api/devportal/match', { descriptor: atDistance(face, 0.2, random), appId });
  t.true(match.match);
  t.deepEqual(Object.keys(match.user).sort(), ['email', 'id', 'name', 'similarity']);
  t.like(match.user, { id: registered.profileId, email: 'Sdk.User@example.com', name: 'Sdk User' });
  t.is(match.bestSimilarity, match.user.similarity);
  const noMatch = await sdk('POST', '/api/devportal/match', { descriptor: randomVector(random), appId });
  t.false(noMatch.match);
  t.is(typeof noMatch.bestSimilarity, 'number');
  t.is(((await sdk('GET', `/api/devportal/register?email=sdk.user@example.com`)) as { verified: boolean }).verified, true, 'a successful match verifies the profile');

  const users = await sdk('GET', `/api/devportal/users?appId=${appId}&search=SDK.USER@example.com&page=1&perPage=10`);
  t.is(users.totalItems, 1);
  t.like(users, { page: 1, perPage: 10 });
  t.like(users.items[0], { id: registered.profileId, email: 'Sdk.User@example.com', fullName: 'Sdk User', emailVerified: false, loginCount: 1, successfulLogins: 1 });
  t.is((await sdk('GET', `/api/devportal/users?appId=${appId}&search=sdk.user@example.co`)).totalItems, 0, 'search is an exact email');

  const duplicate = await sdk('POST', '/api/devportal/register', { email: 'thief@example.com', descriptor: atDistance(face, 0.05, random), appId });
  t.like(duplicate, { success: false, code: 'DUPLICATE_FACE', matchedEmail: 'Sdk.User@example.com' });
  t.is(typeof duplicate.error, 'string');

  t.deepEqual(await sdk('DELETE', '/api/devportal/register', { email: 'sdk.user@example.com', appId }), { success: true });
  t.deepEqual(await sdk('GET', `/api/devportal/register?email=sdk.user@example.com&appId=${appId}`), { registered: false });
  t.false((await sdk('POST', '/api/devportal/match', { descriptor: face, appId })).match);
  const gone = await sdk('DELETE', '/api/devportal/register', { email: 'sdk.user@example.com', appId });
  t.false(gone.success);
  t.is(typeof gone.error, 'string');
});

test.serial('every failure body carries an error string the SDK can read', async (t) => {
  const bad = await sdk('POST', '/api/devportal/register', { email: 'x@example.com', descriptor: [1, 2, 3] });
  t.false(bad.success);
  t.regex(bad.error, /^descriptor: /);
  t.is(bad.code, 'VALIDATION_ERROR');
  const noKey = await fetch(`${running.baseUrl}/api/devportal/match`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  const noKeyBody = (await noKey.json()) as { error: unknown };
  t.is(noKey.status, 401);
  t.like(noKeyBody, { success: false, code: 'UNAUTHORIZED' });
  t.is(typeof noKeyBody.error, 'string');
  const testKeyUnlink = await sdk('DELETE', '/api/devportal/register', { email: 'x@example.com' }, running.testKey);
  t.like(testKeyUnlink, { success: false, code: 'FORBIDDEN' });
  const malformed = await fetch(`${running.baseUrl}/api/devportal/match`, { method: 'POST', headers: { 'X-API-Key': running.liveKey, 'Content-Type': 'application/json' }, body: '{"descriptor": [' });
  t.like(await malformed.json(), { success: false, code: 'VALIDATION_ERROR' });
  t.true(typeof (await sdk('GET', '/api/devportal/nope')).error === 'string');
});

test.serial('re-registering a known email with a new fullName stores it (an event), and the users listing and history show it', async (t) => {
  const face = randomVector(random);
  const first = await sdk('POST', '/api/devportal/register', { email: 'renamed@example.com', fullName: 'Old Name', descriptor: face });
  t.like(first, { success: true, created: true });
  const renamed = await sdk('POST', '/api/devportal/register', { email: 'renamed@example.com', fullName: 'New Name', descriptor: atDistance(face, 0.1, random) });
  t.like(renamed, { success: true, created: false, updated: true, profileId: first.profileId });
  const users = await sdk('GET', '/api/devportal/users?search=renamed@example.com');
  t.is(users.items[0].fullName, 'New Name');
  const match = await sdk('POST', '/api/devportal/match', { descriptor: atDistance(face, 0.1, random) });
  t.is(match.user.name, 'New Name');
  // The same name again, or none, changes nothing.
  await sdk('POST', '/api/devportal/register', { email: 'renamed@example.com', fullName: 'New Name', descriptor: atDistance(face, 0.1, random) });
  await sdk('POST', '/api/devportal/register', { email: 'renamed@example.com', descriptor: atDistance(face, 0.1, random) });
  const history = await fetch(`${running.baseUrl}/v1/users/${first.profileId}/history`, { headers: { authorization: `Bearer ${running.liveKey}` } });
  const events = ((await history.json()) as { data: { events: Array<{ type: string; facts?: unknown }> } }).data.events;
  t.deepEqual(
    events.filter((event) => event.type === 'UserProfileChanged').map((event) => event.facts),
    [{ changed: ['fullName'] }],
  );
  t.is((await sdk('GET', '/api/devportal/users?search=renamed@example.com')).items[0].fullName, 'New Name');
});
