import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import Koa from 'koa';
import { z } from 'zod';
import { AppError, codeOf, statusOf } from '../src/errors/appError.ts';
import { routeGroups } from '../src/http/routes/catalogue.ts';
import { isJsonResponse, route, routeGroup } from '../src/http/routes/declaration.ts';
import { groups } from '../src/http/routes/groups.ts';
import { mountGroup } from '../src/http/routes/mount.ts';

const declarations = routeGroups.flatMap((group) => group.routes.map((declared) => ({ group, declared })));

test('every body example is a body its schema accepts', (t) => {
  let checked = 0;
  for (const { declared } of declarations) {
    if (!declared.body) continue;
    const parsed = declared.body.schema.safeParse(declared.body.example);
    t.true(parsed.success, `${declared.operationId}: ${JSON.stringify(parsed.error?.issues ?? [])}`);
    checked += 1;
  }
  t.true(checked >= 10, `${checked} body examples`);
});

test('every JSON answer example is an answer its schema accepts', (t) => {
  let checked = 0;
  for (const { declared } of declarations) {
    for (const response of declared.responses.filter(isJsonResponse)) {
      const parsed = response.schema.safeParse(response.example);
      t.true(parsed.success, `${declared.operationId} ${response.status}: ${JSON.stringify(parsed.error?.issues ?? [])}`);
      checked += 1;
    }
  }
  t.true(checked >= 25, `${checked} answer examples`);
});

test('declarations are well formed: unique operation ids, unique method and path, path parameters declared, at least one success answer', (t) => {
  const ids = new Set<string>();
  const routes = new Set<string>();
  for (const { declared } of declarations) {
    t.false(ids.has(declared.operationId), `${declared.operationId} is unique`);
    ids.add(declared.operationId);
    const key = `${declared.method} ${declared.path.replace(/\{\w+\}/g, '{}')}`;
    t.false(routes.has(key), `${key} is declared once`);
    routes.add(key);
    const inPath = [...declared.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!).sort();
    const shape = declared.params instanceof z.ZodObject ? Object.keys(declared.params.shape).sort() : [];
    t.deepEqual(shape, inPath, `${declared.operationId}: params match the path template`);
    t.true(declared.responses.some((response) => response.status < 400), `${declared.operationId}: a success (or redirect) answer`);
  }
});

/** A Koa app with one mounted group, translating thrown errors like the service does (code → 4xx, else 500). */
async function serve(checkResponses: boolean, handle: () => Promise<{ data: unknown }>) {
  const probe = routeGroup(groups.users, [
    route({
      method: 'get',
      path: '/v1/users/probe',
      operationId: 'probe',
      summary: 'probe',
      tags: ['users'],
      auth: { kind: 'open' },
      responses: [{ status: 200, description: 'ok', schema: z.object({ count: z.number().int() }), name: 'Probe', example: { count: 1 } }],
      errors: ['NOT_FOUND'],
      handle: async () => handle(),
    }),
  ]);
  const app = new Koa();
  app.use(async (ctx, next) => {
    ctx.state.requestId = 'req_test';
    try {
      await next();
    } catch (error) {
      const code = codeOf(error);
      ctx.status = code === undefined ? 500 : statusOf(code);
      ctx.body = { code: code ?? 'INTERNAL_ERROR', message: (error as Error).message };
    }
  });
  const guards = { key: async () => { throw new Error('no keys here'); }, requireScope: () => {} };
  app.use(mountGroup(probe, {}, { guards, checkResponses }).routes());
  const server = http.createServer(app.callback()).listen(0, '127.0.0.1');
  await new Promise((done) => server.once('listening', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/users/probe`;
  try {
    const response = await fetch(url);
    return { status: response.status, body: (await response.json()) as { code?: string; message?: string } };
  } finally {
    server.close();
  }
}

test('checking answers catches a success body its schema refuses, and passes one it accepts', async (t) => {
  const good = await serve(true, async () => ({ data: { count: 3 } }));
  t.is(good.status, 200);
  const bad = await serve(true, async () => ({ data: { count: 'three' } }));
  t.is(bad.status, 500);
  t.regex(bad.body.message ?? '', /probe answered a 200 its schema Probe refuses/);
  // Off (production): the answer goes out as the handler made it.
  t.is((await serve(false, async () => ({ data: { count: 'three' } }))).status, 200);
});

test('checking answers catches an error code the route does not declare', async (t) => {
  const declared = await serve(true, async () => { throw new AppError('NOT_FOUND', 'nothing'); });
  t.deepEqual([declared.status, declared.body.code], [404, 'NOT_FOUND']);
  const undeclared = await serve(true, async () => { throw new AppError('DUPLICATE_FACE', 'a face'); });
  t.is(undeclared.status, 500);
  t.regex(undeclared.body.message ?? '', /probe answered DUPLICATE_FACE, which it does not declare/);
  t.is((await serve(false, async () => { throw new AppError('DUPLICATE_FACE', 'a face'); })).status, 409);
});
