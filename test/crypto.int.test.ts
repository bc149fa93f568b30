import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { sql } from 'kysely';
import { createBlindIndex } from '../src/crypto/blindIndex.ts';
import { createFieldCipher, isErased, isSealedField } from '../src/crypto/fieldCipher.ts';
import { resolveMasterKey } from '../src/crypto/masterKey.ts';
import { createSqlSubjectKeyStore } from '../src/crypto/subjectKeys.ts';
import { openTestDatabase } from './support/databases.ts';

test('a field round-trips, is bound to its record, and reads as erased once the key is destroyed', async (t) => {
  const testDb = await openTestDatabase();
  try {
    const keys = await createSqlSubjectKeyStore(testDb.database.db, randomBytes(32));
    const cipher = createFieldCipher(keys);
    const subject = `user-${randomUUID()}`;
    const sealed = await cipher.encryptText(subject, 'ada@example.com', 'evt-1:email');
    t.true(isSealedField(sealed));
    t.false(sealed.includes('ada@example.com'));
    t.is(await cipher.decryptText(subject, sealed, 'evt-1:email'), 'ada@example.com');
    // Moved to another record or another subject: an integrity error, not a silent success.
    await t.throwsAsync(cipher.decryptText(subject, sealed, 'evt-2:email'), { message: /integrity/ });
    const other = `user-${randomUUID()}`;
    await cipher.encryptText(other, 'x', 'r');
    await t.throwsAsync(cipher.decryptText(other, sealed, 'evt-1:email'), { message: /integrity/ });

    const descriptor = new Float32Array([0.25, -1.5, 3]);
    const sealedBytes = await cipher.encryptBytes(subject, new Uint8Array(descriptor.buffer), 'tpl-1:descriptor');
    const opened = await cipher.decryptBytes(subject, sealedBytes, 'tpl-1:descriptor');
    t.false(isErased(opened));
    if (!isErased(opened)) t.deepEqual(Array.from(new Float32Array(opened.buffer, opened.byteOffset, 3)), [0.25, -1.5, 3]);

    const destroyed = await keys.destroy(subject);
    t.truthy(destroyed?.keyId.startsWith('dk_'));
    t.true(isErased(await cipher.decryptText(subject, sealed, 'evt-1:email')));
    t.true(isErased(await cipher.decryptBytes(subject, sealedBytes, 'tpl-1:descriptor')));
    const again = await keys.destroy(subject);
    t.is(again?.keyId, destroyed?.keyId);
    t.true(again?.alreadyDestroyed, 'destroying twice reports the earlier destruction');
    t.is(await keys.destroy(`user-${randomUUID()}`), undefined, 'a subject without a key has nothing to destroy');
    await t.throwsAsync(cipher.encryptText(subject, 'again', 'evt-3:email'), { message: /erased/ });
    t.is(await cipher.decryptText(other, await cipher.encryptText(other, 'still here', 'r2'), 'r2'), 'still here');

    const row = await sql<{ wrapped_key: unknown }>`select wrapped_key from crypto.subject_keys where subject_id = ${subject}`.execute(testDb.database.db);
    t.is(row.rows[0]?.wrapped_key, null);
  } finally {
    await testDb.dispose();
  }
});

test('a destroyed key is seen as erased by a second key store on the same database after its cache entry is dropped', async (t) => {
  const testDb = await openTestDatabase();
  try {
    const master = randomBytes(32);
    const a = await createSqlSubjectKeyStore(testDb.database.db, master);
    const b = await createSqlSubjectKeyStore(testDb.database.db, master);
    const subject = `user-${randomUUID()}`;
    const sealed = await createFieldCipher(a).encryptText(subject, 'bob@example.com', 'r');
    t.is(await createFieldCipher(b).decryptText(subject, sealed, 'r'), 'bob@example.com');
    await a.destroy(subject);
    b.forget(subject);
    t.true(isErased(await createFieldCipher(b).decryptText(subject, sealed, 'r')));
  } finally {
    await testDb.dispose();
  }
});

test('concurrent first use of a subject yields one key', async (t) => {
  const testDb = await openTestDatabase();
  try {
    const keys = await createSqlSubjectKeyStore(testDb.database.db, randomBytes(32));
    const subject = `user-${randomUUID()}`;
    const got = await Promise.all(Array.from({ length: 8 }, () => keys.getOrCreate(subject)));
    t.is(new Set(got.map((k) => k.keyId)).size, 1);
  } finally {
    await testDb.dispose();
  }
});

test('the blind index is exact, case-insensitive, and specific to tenant and mode', (t) => {
  const index = createBlindIndex(randomBytes(32));
  t.is(index.email('t1', 'live', ' Ada@Example.com '), index.email('t1', 'live', 'ada@example.com'));
  t.not(index.email('t1', 'live', 'ada@example.com'), index.email('t2', 'live', 'ada@example.com'));
  t.not(index.email('t1', 'live', 'ada@example.com'), index.email('t1', 'test', 'ada@example.com'));
  t.not(index.email('t1', 'live', 'ada@example.com'), index.email('t1', 'live', 'ada@example.org'));
  t.false(index.email('t1', 'live', 'ada@example.com').includes('ada'));
});

test('the master key is generated once into the data dir and read back after', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-key-'));
  try {
    const first = await resolveMasterKey(undefined, dir);
    t.is(first.source, 'generated');
    t.is(first.key.length, 32);
    const again = await resolveMasterKey(undefined, dir);
    t.is(again.source, 'data-dir');
    t.true(again.key.equals(first.key));
    t.is((await fs.stat(path.join(dir, 'master.key'))).mode & 0o777, 0o600);
    const configured = randomBytes(32);
    t.is((await resolveMasterKey(configured, dir)).source, 'configuration');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a child key cannot outlive its parent: destroying the parent destroys it, and it cannot be made afterwards', async (t) => {
  const testDb = await openTestDatabase();
  try {
    const keys = await createSqlSubjectKeyStore(testDb.database.db, randomBytes(32));
    const cipher = createFieldCipher(keys);
    const user = `usr_${randomUUID().replaceAll('-', '')}`;
    await cipher.encryptText(user, 'parent', 'r');
    const october = await cipher.encryptText(`${user}/signins/2026-10`, '198.51.100.1', 'log_1:ip');
    const november = await cipher.encryptText(`${user}/signins/2026-11`, '198.51.100.2', 'log_2:ip');

    t.is(await keys.destroyChildrenBefore([user], 'signins', '2026-11'), 1, 'retention destroys whole months before the cut');
    t.true(isErased(await cipher.decryptText(`${user}/signins/2026-10`, october, 'log_1:ip')));
    t.is(await cipher.decryptText(`${user}/signins/2026-11`, november, 'log_2:ip'), '198.51.100.2');
    t.is(await cipher.decryptText(user, await cipher.encryptText(user, 'still', 'r2'), 'r2'), 'still', 'the parent is untouched');

    await keys.destroy(user);
    t.true(isErased(await cipher.decryptText(`${user}/signins/2026-11`, november, 'log_2:ip')), 'erasing the user erases every month');
    await t.throwsAsync(cipher.encryptText(`${user}/signins/2026-12`, '198.51.100.3', 'log_3:ip'), { message: /erased/ });
  } finally {
    await testDb.dispose();
  }
});

test('openText reads a field as readers show it: null when unset or erased', async (t) => {
  const testDb = await openTestDatabase();
  try {
    const keys = await createSqlSubjectKeyStore(testDb.database.db, randomBytes(32));
    const cipher = createFieldCipher(keys);
    const subject = `user-${randomUUID()}`;
    const sealed = await cipher.encryptText(subject, 'kim@example.com', 'r');
    t.is(await cipher.openText(subject, sealed, 'r'), 'kim@example.com');
    t.is(await cipher.openText(subject, null, 'r'), null);
    await keys.destroy(subject);
    t.is(await cipher.openText(subject, sealed, 'r'), null);
  } finally {
    await testDb.dispose();
  }
});
