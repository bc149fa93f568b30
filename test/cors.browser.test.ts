import test from 'ava';
import type { Browser } from 'playwright-core';
import { browserAvailable, launchBrowser, servePage } from './support/browser.ts';
import { randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

const adminToken = 'browser-admin-token-0123456789abcd';
const random = seededRandom(73);
let running: RunningService;
let browser: Browser;

// The page calls the API the way the FaceSmash SDK's FaceSmashApiClient does: fetch with
// X-API-Key and JSON, and reads the answer (and the headers a script may read).
const page = `<!doctype html><html><body><script>
window.run = async (api, key, descriptor) => {
  const call = async (method, path, body) => {
    const response = await fetch(api + path, { method, headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json(), limit: response.headers.get('X-RateLimit-Limit'), remaining: response.headers.get('X-RateLimit-Remaining'), reset: response.headers.get('X-RateLimit-Reset'), requestId: response.headers.get('X-Request-Id') };
  };
  try {
    const registered = await call('POST', '/api/devportal/register', { email: 'browser@example.com', fullName: 'Browser User', descriptor });
    const status = await call('GET', '/api/devportal/register?email=' + encodeURIComponent('browser@example.com'));
    const match = await call('POST', '/api/devportal/match', { descriptor });
    return { ok: true, registered, status, match };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
};
</script></body></html>`;

const maybe = browserAvailable ? test.serial : test.skip;

test.before(async () => {
  if (!browserAvailable) return;
  running = await startService({ ADMIN_TOKEN: adminToken });
  browser = await launchBrowser();
});

test.after.always(async () => {
  await browser?.close();
  await running?.stop();
});

maybe('Chromium: a page on an allowed origin registers, checks status and matches with a test key, and reads the rate-limit headers', async (t) => {
  const allowed = await servePage(page);
  try {
    const admin = client(running.baseUrl, { authorization: `Bearer ${adminToken}` });
    const issued = await admin.post(`/admin/tenants/${running.tenantId}/keys`, { mode: 'test', name: 'browser', allowedOrigins: [allowed.origin] });
    t.is(issued.status, 201);
    const tab = await browser.newPage();
    await tab.goto(allowed.origin);
    const result = await tab.evaluate(({ api, key, descriptor }) => (globalThis as unknown as { run: (a: string, k: string, d: number[]) => Promise<any> }).run(api, key, descriptor), {
      api: running.baseUrl,
      key: issued.body.data.key as string,
      descriptor: randomVector(random),
    });
    t.true(result.ok, JSON.stringify(result));
    t.like(result.registered, { status: 201, body: { success: true, created: true } });
    t.like(result.status, { status: 200, body: { registered: true } });
    t.like(result.match, { status: 200, body: { match: true, user: { email: 'browser@example.com', name: 'Browser User' } } });
    // Test keys count as the free plan: 10 a minute, and the page's script can read it.
    t.is(result.match.limit, '10');
    t.is(result.match.remaining, '7');
    t.regex(result.match.reset, /^\d+$/);
    t.regex(result.match.requestId, /^req_/);
    await tab.close();
  } finally {
    await allowed.close();
  }
});

maybe('Chromium: a page on an origin no key allows is blocked by the browser, and the API did nothing', async (t) => {
  const other = await servePage(page);
  try {
    const head = await running.service.store.headPosition();
    const tab = await browser.newPage();
    await tab.goto(other.origin);
    const result = await tab.evaluate(({ api, key, descriptor }) => (globalThis as unknown as { run: (a: string, k: string, d: number[]) => Promise<any> }).run(api, key, descriptor), {
      api: running.baseUrl,
      key: running.testKey,
      descriptor: randomVector(random),
    });
    t.false(result.ok);
    t.regex(result.error, /Failed to fetch/);
    t.is(await running.service.store.headPosition(), head);
    await tab.close();
  } finally {
    await other.close();
  }
});
