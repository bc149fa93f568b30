import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { embeddedDatabaseCopy } from './support/pgliteTemplate.ts';
import { startServiceProcess, type ServiceProcess } from './support/serviceProcess.ts';

const random = seededRandom(515);

/** The `matcher loaded` line of a start: where the templates came from and how many. */
async function loadedFrom(service: ServiceProcess): Promise<{ source: string; templates: number; image?: { reason: string } }> {
  return (await service.waitForLog(/^matcher loaded$/)) as never;
}

test.serial('npm start restores the gallery image after SIGTERM and after kill -9 in a burst of registrations, loses no acknowledged face, and an erasure makes the next start read the read model', async (t) => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-image-proc-'));
  await fs.rename(await embeddedDatabaseCopy(), path.join(dataDir, 'pglite'));
  const env = { DATA_DIR: dataDir, MATCHER_IMAGE_INTERVAL_MS: '0' };
  const running: ServiceProcess[] = [];
  const start = async () => {
    const service = await startServiceProcess(env);
    running.push(service);
    return service;
  };
  try {
    const first = await start();
    const auth = { authorization: `Bearer ${first.firstKeys!.live}` };
    const faces = new Map<string, number[]>();
    const register = async (api: ReturnType<typeof client>, i: number) => {
      const descriptor = randomVector(random);
      const response = await api.post('/v1/faces/register', { email: `image${i}@example.com`, descriptor });
      if (response.status === 201) faces.set(response.body.data.userId as string, descriptor);
      return response.status;
    };
    let api = client(first.baseUrl, auth);
    for (let i = 0; i < 40; i++) t.is(await register(api, i), 201);
    t.is((await first.stop()).code, 0);
    t.like(await first.waitForLog(/^gallery image written$/), { templates: 40 });
    t.true((await fs.stat(path.join(dataDir, 'matcher.image'))).size > 40 * 512, 'the image holds the descriptors');

    const second = await start();
    t.like(await loadedFrom(second), { source: 'image', templates: 40 });
    // A burst of registrations, killed with SIGKILL part-way: no image is written for them.
    api = client(second.baseUrl, auth);
    let acknowledged = 0;
    const burst = Array.from({ length: 60 }, (_, i) =>
      register(api, 100 + i).then(
        (status) => {
          if (status === 201 && ++acknowledged === 20) second.child.kill('SIGKILL');
        },
        () => undefined,
      ),
    );
    await Promise.all(burst);
    await second.stop();
    t.true(acknowledged >= 20);

    const third = await start();
    // The image of the first stop, and the stream past it.
    t.like(await loadedFrom(third), { source: 'image', templates: 40 });
    api = client(third.baseUrl, auth);
    for (const [userId, descriptor] of faces) {
      const identified = await api.post('/v1/faces/identify', { descriptor: atDistance(descriptor, 0.05, random) });
      t.is(identified.body.data.matches[0]?.userId, userId, 'every acknowledged registration identifies');
    }
    const [erasedId, erasedFace] = [...faces][0]!;
    t.is((await api.delete(`/v1/users/${erasedId}`)).status, 200);
    faces.delete(erasedId);
    // Killed again: the erasure destroyed the image's key, and no new image is written.
    third.child.kill('SIGKILL');
    await third.stop();

    const fourth = await start();
    const loaded = await loadedFrom(fourth);
    t.like(loaded, { source: 'read model', image: { reason: 'key destroyed' } });
    // A registration the kill cut off after its append but before its answer may be there too.
    t.true(loaded.templates >= faces.size && loaded.templates <= faces.size + 60 - acknowledged, `${loaded.templates} templates`);
    api = client(fourth.baseUrl, auth);
    t.deepEqual((await api.post('/v1/faces/identify', { descriptor: erasedFace })).body.data.matches, [], 'the erased user is gone');
    for (const [userId, descriptor] of faces) t.is((await api.post('/v1/faces/identify', { descriptor })).body.data.matches[0]?.userId, userId);
    // The start that read the read model wrote a new image, without the erased user.
    t.like(await fourth.waitForLog(/^gallery image written$/), { templates: loaded.templates });
    t.is((await fourth.stop()).code, 0);
    const fifth = await start();
    t.like(await loadedFrom(fifth), { source: 'image', templates: loaded.templates });
    t.deepEqual((await client(fifth.baseUrl, auth).post('/v1/faces/identify', { descriptor: erasedFace })).body.data.matches, []);
  } finally {
    for (const service of running) await service.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
