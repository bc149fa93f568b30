import test from 'ava';
import { startService } from './support/service.ts';

test('healthz and readyz answer in the envelope with a request id that matches the header', async (t) => {
  const running = await startService();
  try {
    const health = await fetch(`${running.baseUrl}/healthz`);
    t.is(health.status, 200);
    t.regex(health.headers.get('content-type') ?? '', /^application\/json; charset=utf-8/);
    const body = (await health.json()) as { success: boolean; data: { status: string }; meta: { requestId: string; timestamp: string } };
    t.true(body.success);
    t.is(body.data.status, 'ok');
    t.regex(body.meta.requestId, /^req_[0-9a-f]{20}$/);
    t.is(health.headers.get('x-request-id'), body.meta.requestId);
    t.false(Number.isNaN(Date.parse(body.meta.timestamp)));

    // Ready once the face models have loaded (in the background) and the followers caught up.
    let ready = await fetch(`${running.baseUrl}/readyz`);
    while (ready.status === 503) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await fetch(`${running.baseUrl}/readyz`);
    }
    const readyBody = (await ready.json()) as { data: { status: string; checks: Array<{ name: string; ok: boolean }> } };
    t.is(ready.status, 200);
    t.is(readyBody.data.status, 'ready');
    t.deepEqual(readyBody.data.checks.map((c) => [c.name, c.ok]), [['eventStore', true], ['database', true], ['matcher', true], ['models', true], ['followers', true]]);

    const second = await fetch(`${running.baseUrl}/healthz`);
    t.not(second.headers.get('x-request-id'), body.meta.requestId, 'every request gets its own id');
  } finally {
    await running.stop();
  }
});

test('unknown routes and methods get the error envelope', async (t) => {
  const running = await startService();
  try {
    const missing = await fetch(`${running.baseUrl}/v1/nothing-here`, { headers: running.auth });
    t.is(missing.status, 404);
    const body = (await missing.json()) as { success: boolean; error: { code: string; message: string; details: object }; meta: { requestId: string } };
    t.false(body.success);
    t.is(body.error.code, 'NOT_FOUND');
    t.regex(body.error.message, /\/v1\/nothing-here/);
    t.is(missing.headers.get('x-request-id'), body.meta.requestId);

    const anonymous = await fetch(`${running.baseUrl}/v1/nothing-here`);
    // Auth belongs to each declared route; a path no route has is 404 with or without a key
    // (the routes are public knowledge: /v1/openapi.json lists them).
    t.is(anonymous.status, 404, 'a path no route has');
    const wrongMethod = await fetch(`${running.baseUrl}/healthz`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    t.is(wrongMethod.status, 405);
    t.is(((await wrongMethod.json()) as { error: { code: string } }).error.code, 'METHOD_NOT_ALLOWED');
  } finally {
    await running.stop();
  }
});

test('readyz answers 503 while projections are not running', async (t) => {
  const running = await startService({}, { startProjections: false });
  try {
    const ready = await fetch(`${running.baseUrl}/readyz`);
    t.is(ready.status, 503);
    const body = (await ready.json()) as { error: { code: string; details: { checks: Array<{ name: string; ok: boolean }> } } };
    t.is(body.error.code, 'SERVICE_UNAVAILABLE');
    t.true(body.error.details.checks.filter((c) => !c.ok).map((c) => c.name).includes('followers'));
  } finally {
    await running.stop();
  }
});

test('readyz answers 503 when the projections lag more than READY_MAX_LAG behind the store', async (t) => {
  const running = await startService({ READY_MAX_LAG: '0' });
  try {
    await running.service.follower!.stop();
    await running.service.store.appendToStream('lag-test', [{ id: crypto.randomUUID(), type: 'Noted', data: {}, metadata: { occurredAt: new Date().toISOString(), schemaVersion: 1 } }]);
    const ready = await fetch(`${running.baseUrl}/readyz`);
    t.is(ready.status, 503);
    const failing = ((await ready.json()) as { error: { details: { checks: Array<{ name: string; ok: boolean }> } } }).error.details.checks.filter((c) => !c.ok).map((c) => c.name);
    t.true(failing.includes('followers'), failing.join(', '));
  } finally {
    await running.stop();
  }
});
