import { randomUUID } from 'node:crypto';
import type { ExecutionContext, TestFn } from 'ava';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/eventStore/eventStore.ts';

/** Creates a store over a fresh, empty backend; `dispose` tears it down. */
export type StoreFactory = () => Promise<{ store: EventStore; dispose(): Promise<void> }>;

function event(type: string, data: Record<string, unknown> = {}): NewEvent {
  return { id: randomUUID(), type, data, metadata: { occurredAt: new Date().toISOString(), schemaVersion: 1, tenantId: 'tenant-1', mode: 'test' } };
}

function stream(): string {
  return `test-${randomUUID()}`;
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code;
}

async function collect(iterable: AsyncIterable<RecordedEvent>, count: number, controller: AbortController, timeoutMs = 30_000): Promise<RecordedEvent[]> {
  const seen: RecordedEvent[] = [];
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    for await (const recorded of iterable) {
      seen.push(recorded);
      if (seen.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return seen;
}

/**
 * The event store contract: every adapter passes exactly these tests. `available` false marks the
 * suite skipped (e.g. no KurrentDB server) rather than passed.
 */
export function eventStoreContract(test: TestFn, adapter: string, factory: StoreFactory, available = true): void {
  const run = (title: string, body: (t: ExecutionContext, store: EventStore) => Promise<void>) => {
    const declare = available ? test.serial : test.skip;
    declare(`${adapter}: ${title}`, async (t) => {
      const { store, dispose } = await factory();
      try {
        await body(t, store);
      } finally {
        await dispose();
      }
    });
  };

  run('appends to a new stream and reads it forwards with revisions from 0', async (t, store) => {
    const name = stream();
    const result = await store.appendToStream(name, [event('A', { n: 1 }), event('B', { n: 2 })], { expectedRevision: 'no_stream' });
    t.is(result.nextExpectedRevision, 1n);
    const events = await store.readStream(name);
    t.deepEqual(events.map((e) => [e.type, e.revision, e.data]), [['A', 0n, { n: 1 }], ['B', 1n, { n: 2 }]]);
    t.is(events[1]!.position, result.position);
    t.true(events[0]!.position < events[1]!.position);
    t.is(events[0]!.streamName, name);
    t.is(events[0]!.metadata.tenantId, 'tenant-1');
    t.true(events[0]!.recordedAt instanceof Date);
  });

  run('no_stream refuses an existing stream and reports the actual revision', async (t, store) => {
    const name = stream();
    await store.appendToStream(name, [event('A'), event('B'), event('C')]);
    const error = await t.throwsAsync(store.appendToStream(name, [event('D')], { expectedRevision: 'no_stream' }));
    t.is(codeOf(error), 'WRONG_EXPECTED_REVISION');
    t.is((error as unknown as { details: { actual: string } }).details.actual, '2');
  });

  run('stream_exists refuses a missing stream and accepts an existing one', async (t, store) => {
    const name = stream();
    const error = await t.throwsAsync(store.appendToStream(name, [event('A')], { expectedRevision: 'stream_exists' }));
    t.is(codeOf(error), 'WRONG_EXPECTED_REVISION');
    t.is((error as unknown as { details: { actual: string } }).details.actual, '-1');
    await store.appendToStream(name, [event('A')], { expectedRevision: 'no_stream' });
    const result = await store.appendToStream(name, [event('B')], { expectedRevision: 'stream_exists' });
    t.is(result.nextExpectedRevision, 1n);
  });

  run('an exact revision must equal the current one; any always appends', async (t, store) => {
    const name = stream();
    await store.appendToStream(name, [event('A'), event('B')]);
    const stale = await t.throwsAsync(store.appendToStream(name, [event('C')], { expectedRevision: 0n }));
    t.is(codeOf(stale), 'WRONG_EXPECTED_REVISION');
    t.is((stale as unknown as { details: { actual: string } }).details.actual, '1');
    const ok = await store.appendToStream(name, [event('C')], { expectedRevision: 1n });
    t.is(ok.nextExpectedRevision, 2n);
    const any = await store.appendToStream(name, [event('D')], { expectedRevision: 'any' });
    t.is(any.nextExpectedRevision, 3n);
    t.is((await store.readStream(name)).length, 4);
  });

  run('a refused append stores nothing', async (t, store) => {
    const name = stream();
    await store.appendToStream(name, [event('A')]);
    const head = await store.headPosition();
    await t.throwsAsync(store.appendToStream(name, [event('B'), event('C')], { expectedRevision: 5n }));
    t.is((await store.readStream(name)).length, 1);
    t.is(await store.headPosition(), head);
  });

  run('appending the same event ids twice stores them once', async (t, store) => {
    const name = stream();
    const batch = [event('A'), event('B')];
    const first = await store.appendToStream(name, batch, { expectedRevision: 'no_stream' });
    const again = await store.appendToStream(name, batch, { expectedRevision: 'no_stream' });
    t.is(again.nextExpectedRevision, first.nextExpectedRevision);
    t.is(again.position, first.position);
    const anyRetry = await store.appendToStream(name, batch, { expectedRevision: 'any' });
    t.is(anyRetry.nextExpectedRevision, 1n);
    const events = await store.readStream(name);
    t.deepEqual(events.map((e) => e.id), batch.map((e) => e.id));
  });

  run('reads a stream backwards, from a revision, and with a maximum count', async (t, store) => {
    const name = stream();
    await store.appendToStream(name, ['A', 'B', 'C', 'D', 'E'].map((type) => event(type)));
    t.deepEqual((await store.readStream(name, { direction: 'backwards' })).map((e) => e.type), ['E', 'D', 'C', 'B', 'A']);
    t.deepEqual((await store.readStream(name, { direction: 'backwards', maxCount: 2 })).map((e) => e.type), ['E', 'D']);
    t.deepEqual((await store.readStream(name, { fromRevision: 2n })).map((e) => e.type), ['C', 'D', 'E']);
    t.deepEqual((await store.readStream(name, { fromRevision: 1n, maxCount: 2 })).map((e) => e.type), ['B', 'C']);
    t.deepEqual((await store.readStream(name, { direction: 'backwards', fromRevision: 2n })).map((e) => e.type), ['C', 'B', 'A']);
    t.deepEqual(await store.readStream(stream()), []);
  });

  run('reads all streams in global order from an exclusive position', async (t, store) => {
    const start = await store.headPosition();
    const a = stream();
    const b = stream();
    await store.appendToStream(a, [event('A1')]);
    await store.appendToStream(b, [event('B1'), event('B2')]);
    await store.appendToStream(a, [event('A2')]);
    const all = await store.readAll({ after: start, maxCount: 100 });
    t.deepEqual(all.map((e) => e.type), ['A1', 'B1', 'B2', 'A2']);
    for (let i = 1; i < all.length; i++) t.true(all[i]!.position > all[i - 1]!.position);
    const rest = await store.readAll({ after: all[1]!.position, maxCount: 100 });
    t.deepEqual(rest.map((e) => e.type), ['B2', 'A2']);
    t.deepEqual((await store.readAll({ after: start, maxCount: 2 })).map((e) => e.type), ['A1', 'B1']);
    t.is(await store.headPosition(), all[3]!.position);
  });

  run('subscribes from a position: catches up, then receives live events', async (t, store) => {
    const name = stream();
    const start = await store.headPosition();
    await store.appendToStream(name, [event('Old1'), event('Old2')]);
    const controller = new AbortController();
    const received = collect(store.subscribeToAll({ after: start, signal: controller.signal }), 4, controller);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await store.appendToStream(name, [event('New1')]);
    await store.appendToStream(name, [event('New2')]);
    const events = await received;
    controller.abort();
    t.deepEqual(events.map((e) => e.type), ['Old1', 'Old2', 'New1', 'New2']);
  });

  run('deletes a stream for good: reads and appends are refused, other streams stay', async (t, store) => {
    const name = stream();
    const other = stream();
    await store.appendToStream(name, [event('A'), event('B')]);
    await store.appendToStream(other, [event('X')]);
    const start = await store.headPosition();
    await store.deleteStream(name);
    t.is(codeOf(await t.throwsAsync(store.readStream(name))), 'STREAM_DELETED');
    t.is(codeOf(await t.throwsAsync(store.appendToStream(name, [event('C')]))), 'STREAM_DELETED');
    t.deepEqual((await store.readStream(other)).map((e) => e.type), ['X']);
    const after = await store.readAll({ after: 0n, maxCount: 1000 });
    t.false(after.some((e) => e.streamName === name));
    t.true((await store.headPosition()) >= start || after.length >= 0);
  });

  run('delete with a stale expected revision is refused', async (t, store) => {
    const name = stream();
    await store.appendToStream(name, [event('A'), event('B')]);
    t.is(codeOf(await t.throwsAsync(store.deleteStream(name, { expectedRevision: 0n }))), 'WRONG_EXPECTED_REVISION');
    t.is((await store.readStream(name)).length, 2);
  });

  run('concurrent appends to one stream: exactly one of each conflicting pair wins', async (t, store) => {
    const name = stream();
    await store.appendToStream(name, [event('Seed')]);
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => store.appendToStream(name, [event(`W${i}`)], { expectedRevision: 0n })));
    t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') t.is(codeOf(r.reason), 'WRONG_EXPECTED_REVISION');
    t.is((await store.readStream(name)).length, 2);
  });

  run('a subscriber sees every committed event exactly once, in increasing position, while writers race', async (t, store) => {
    const start = await store.headPosition();
    const writers = 8;
    const perWriter = 40;
    const controller = new AbortController();
    const seen = collect(store.subscribeToAll({ after: start, signal: controller.signal }), writers * perWriter, controller, 60_000);
    const appended = new Set<string>();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const name = stream();
        for (let i = 0; i < perWriter; i++) {
          // Odd writers append in pairs to exercise multi-event transactions.
          const batch = w % 2 === 1 && i + 1 < perWriter ? [event('E'), event('E')] : [event('E')];
          await store.appendToStream(name, batch);
          for (const e of batch) appended.add(e.id);
          i += batch.length - 1;
        }
      }),
    );
    const events = await seen;
    controller.abort();
    t.is(events.length, appended.size);
    t.is(new Set(events.map((e) => e.id)).size, events.length, 'no duplicates');
    for (const e of events) t.true(appended.has(e.id));
    for (let i = 1; i < events.length; i++) t.true(events[i]!.position > events[i - 1]!.position, 'positions increase');
    const all = await store.readAll({ after: start, maxCount: 10_000 });
    t.deepEqual(all.map((e) => e.id), events.map((e) => e.id), 'subscription order equals read-all order');
  });

  run('closing a stream refuses later appends to it and to streams it guards; it still reads', async (t, store) => {
    const owner = stream();
    const guarded = stream();
    await store.appendToStream(owner, [event('Opened')]);
    const before = await store.appendToStream(guarded, [event('Guarded')], { guards: [owner] });
    t.is(before.nextExpectedRevision, 0n);
    await store.appendToStream(owner, [event('Closed')], { expectedRevision: 0n, close: true });
    t.is(codeOf(await t.throwsAsync(store.appendToStream(owner, [event('Late')]))), 'STREAM_CLOSED');
    t.is(codeOf(await t.throwsAsync(store.appendToStream(guarded, [event('Late')], { guards: [owner] }))), 'STREAM_CLOSED');
    t.is(codeOf(await t.throwsAsync(store.appendToStream(stream(), [event('Late')], { guards: [owner] }))), 'STREAM_CLOSED');
    t.deepEqual((await store.readStream(owner)).map((e) => e.type), ['Opened', 'Closed']);
    t.deepEqual((await store.readStream(guarded)).map((e) => e.type), ['Guarded']);
    // A guard on a stream that is open, or does not exist, lets the append through.
    t.is((await store.appendToStream(stream(), [event('Free')], { guards: [stream()] })).nextExpectedRevision, 0n);
  });

  run('guarded appends racing a closure: each is stored before the closing event or refused, none after', async (t, store) => {
    const owner = stream();
    await store.appendToStream(owner, [event('Opened')]);
    const guarded = Array.from({ length: 4 }, () => stream());
    const attempts = Array.from({ length: 40 }, (_, i) => store.appendToStream(guarded[i % 4]!, [event('SignIn')], { guards: [owner] }));
    const closing = store.appendToStream(owner, [event('Erased')], { close: true });
    const settled = await Promise.allSettled(attempts);
    const closed = await closing;
    for (const outcome of settled) {
      if (outcome.status === 'rejected') t.is(codeOf(outcome.reason), 'STREAM_CLOSED');
      else t.true(outcome.value.position < closed.position, 'stored before the closure');
    }
    const stored = (await Promise.all(guarded.map((name) => store.readStream(name)))).flat();
    t.is(stored.length, settled.filter((o) => o.status === 'fulfilled').length);
    t.true(stored.every((e) => e.position < closed.position));
  });

  run('appendMulti stores every part or none, checking each part on its own', async (t, store) => {
    const a = stream();
    const b = stream();
    await store.appendToStream(b, [event('B0')]);
    const head = await store.headPosition();
    // b is at revision 0, not no_stream: the whole append is refused.
    const refused = await t.throwsAsync(
      store.appendMulti([
        { streamName: a, events: [event('A0')], expectedRevision: 'no_stream' },
        { streamName: b, events: [event('B1')], expectedRevision: 'no_stream' },
      ]),
    );
    t.is(codeOf(refused), 'WRONG_EXPECTED_REVISION');
    t.is((refused as unknown as { details: { streamName: string } }).details.streamName, b);
    t.deepEqual(await store.readStream(a), []);
    t.is(await store.headPosition(), head);
    const results = await store.appendMulti([
      { streamName: a, events: [event('A0'), event('A1')], expectedRevision: 'no_stream' },
      { streamName: b, events: [event('B1')], expectedRevision: 0n },
    ]);
    t.deepEqual(results.map((r) => r.nextExpectedRevision), [1n, 1n]);
    const all = await store.readAll({ after: head, maxCount: 10 });
    t.deepEqual(all.map((e) => e.type), ['A0', 'A1', 'B1']);
    t.is(results[0]!.position, all[1]!.position);
    t.is(results[1]!.position, all[2]!.position);
    // A part with no events only checks: a closed guard refuses the whole append.
    await store.appendToStream(b, [event('B2')], { close: true });
    t.is(codeOf(await t.throwsAsync(store.appendMulti([{ streamName: a, events: [event('A2')], guards: [b] }]))), 'STREAM_CLOSED');
    t.is((await store.readStream(a)).length, 2);
  });

  run('group commit: 200 appends at once, each checked against its own expected revision, seen once in order', async (t, store) => {
    const start = await store.headPosition();
    const names = Array.from({ length: 10 }, () => stream());
    for (const name of names) await store.appendToStream(name, [event('Seed')], { expectedRevision: 'no_stream' });
    // Per stream: 10 writers expect revision 0 (at most one wins), 10 append with any (all win).
    const attempts = names.flatMap((name) => [
      ...Array.from({ length: 10 }, (_, i) => ({ name, expected: 0n as const, label: `exact-${i}` })),
      ...Array.from({ length: 10 }, (_, i) => ({ name, expected: 'any' as const, label: `any-${i}` })),
    ]);
    const settled = await Promise.allSettled(attempts.map((a) => store.appendToStream(a.name, [event(a.label)], { expectedRevision: a.expected })));
    for (const outcome of settled) if (outcome.status === 'rejected') t.is(codeOf(outcome.reason), 'WRONG_EXPECTED_REVISION');
    let stored = 0;
    for (const name of names) {
      const exactWins = settled.filter((o, i) => o.status === 'fulfilled' && attempts[i]!.name === name && attempts[i]!.expected === 0n).length;
      t.true(exactWins <= 1, 'at most one writer expecting revision 0 wins per stream');
      const events = await store.readStream(name);
      stored += events.length;
      t.deepEqual(events.map((e) => e.revision), events.map((_, i) => BigInt(i)), 'revisions without gaps');
      t.is(events.filter((e) => e.type.startsWith('any-')).length, 10, 'every any append is stored');
      t.is(events.filter((e) => e.type.startsWith('exact-')).length, exactWins);
      if (exactWins === 1) t.true(events[1]!.type.startsWith('exact-'), 'the winner came right after the seed');
    }
    const controller = new AbortController();
    const events = await collect(store.subscribeToAll({ after: start, signal: controller.signal }), stored, controller);
    controller.abort();
    t.is(events.length, stored);
    t.is(new Set(events.map((e) => e.id)).size, events.length, 'no duplicates');
    for (let i = 1; i < events.length; i++) t.true(events[i]!.position > events[i - 1]!.position, 'positions increase');
  });
}
