import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import pg from 'pg';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { postgresUrl } from './support/databases.ts';
import { startService } from './support/service.ts';
import { filesUnder, findNeedles, type Needle } from './support/byteSearch.ts';

const run = promisify(execFile);

/** The plaintext a leak would show: emails (UTF-8 and UTF-16), user agents, descriptor bytes and digits. */
function needlesOf(people: Array<{ email: string; descriptor: number[] }>, userAgent: string): Needle[] {
  const needles: Needle[] = [{ what: 'user agent', bytes: Buffer.from(userAgent) }];
  for (const person of people) {
    needles.push({ what: `email ${person.email}`, bytes: Buffer.from(person.email) });
    needles.push({ what: `email ${person.email} (utf-16)`, bytes: Buffer.from(person.email, 'utf16le') });
    const f32 = Buffer.from(new Float32Array(person.descriptor).buffer);
    needles.push({ what: `descriptor of ${person.email} (float32)`, bytes: f32.subarray(0, 24) });
    needles.push({ what: `descriptor of ${person.email} (float32, later)`, bytes: f32.subarray(256, 280) });
    needles.push({ what: `descriptor of ${person.email} (float64)`, bytes: Buffer.from(new Float64Array(person.descriptor.slice(0, 3)).buffer) });
    needles.push({ what: `descriptor of ${person.email} (as text)`, bytes: Buffer.from(`${person.descriptor[0]},${person.descriptor[1]}`) });
  }
  return needles;
}

async function registerPeople(baseUrl: string, userAgent: string, auth: Record<string, string>) {
  const api = client(baseUrl, { 'user-agent': userAgent, ...auth });
  const random = seededRandom(99);
  const tag = randomBytes(4).toString('hex');
  const people = Array.from({ length: 5 }, (_, i) => ({ email: `secret.${tag}.${i}@privacy-test.example`, descriptor: randomVector(random) }));
  for (const person of people) {
    const response = await api.post('/v1/faces/register', { email: person.email, descriptor: person.descriptor });
    if (response.status !== 201) throw new Error(JSON.stringify(response.body));
    await api.post('/v1/faces/verify', { userId: response.body.data.userId, descriptor: atDistance(person.descriptor, 0.1, random) });
    await api.post('/v1/faces/identify', { descriptor: person.descriptor }, { 'idempotency-key': `idem-${person.email}` });
  }
  return people;
}

(postgresUrl ? test.skip : test.serial)('embedded: no byte of the data dir holds a plaintext email, user agent or descriptor', async (t) => {
  const running = await startService();
  try {
    const userAgent = `PrivacyProbe/${randomBytes(6).toString('hex')}`;
    const people = await registerPeople(running.baseUrl, userAgent, running.auth);
    // Stop the service (PGlite flushes and closes) but keep the data dir for the search.
    await running.service.close();
    const found = await findNeedles(filesUnder(running.dataDir), needlesOf(people, userAgent));
    t.deepEqual(found, []);
    // The search itself works: a plaintext needle in a file is found.
    const probe = path.join(running.dataDir, 'probe.bin');
    await fs.writeFile(probe, Buffer.concat([Buffer.from('xx'), Buffer.from(people[0]!.email), Buffer.from('yy')]));
    t.is((await findNeedles([probe], needlesOf(people, userAgent))).length, 1);
  } finally {
    await running.stop();
  }
});

(postgresUrl ? test.serial : test.skip)('PostgreSQL: neither a full dump, the heap files nor the WAL hold a plaintext email, user agent or descriptor', async (t) => {
  const running = await startService();
  const userAgent = `PrivacyProbe/${randomBytes(6).toString('hex')}`;
  try {
    const people = await registerPeople(running.baseUrl, userAgent, running.auth);
    const url = running.service.config.database.kind === 'postgres' ? running.service.config.database.url : '';
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const dataDirectory = (await admin.query<{ data_directory: string }>('show data_directory')).rows[0]!.data_directory;
    const databaseOid = (await admin.query<{ oid: string }>('select oid::text from pg_database where datname = current_database()')).rows[0]!.oid;
    await admin.query('checkpoint');
    await admin.end();

    const dumpFile = path.join(running.dataDir, 'dump.sql');
    await run('pg_dump', ['--no-owner', '--file', dumpFile, url]);
    const dump = await fs.readFile(dumpFile, 'utf8');
    t.true(dump.includes('fse1:'), 'the dump holds the sealed values');
    const needles = needlesOf(people, userAgent);
    t.deepEqual(await findNeedles([dumpFile], needles), [], 'full dump');
    t.deepEqual(await findNeedles(filesUnder(path.join(dataDirectory, 'base', databaseOid)), needles), [], 'heap and index files');
    t.deepEqual(await findNeedles(filesUnder(path.join(dataDirectory, 'pg_wal')), needles), [], 'write-ahead log');
  } finally {
    await running.stop();
  }
});
