import test from 'ava';
import { createImageKeeper, type GalleryImage, type ImageWritten } from '../src/matching/galleryImage.ts';
import { createMatcher, type Matcher } from '../src/matching/matcher.ts';
import { randomVector, seededRandom } from './support/faces.ts';

/** An image that keeps what it was asked to write in memory: the keeper's decisions are the subject here (galleryImage's own tests use the file). */
function memoryImage(): GalleryImage & { writes: bigint[]; destroy(): void } {
  let live: bigint | undefined;
  const writes: bigint[] = [];
  return {
    writes,
    async restore() {
      return { restored: false, reason: 'none' };
    },
    async write(matcher, position): Promise<ImageWritten> {
      writes.push(position);
      live = position;
      return { position, templates: matcher.size(), bytes: 0, ms: 0 };
    },
    async live() {
      return live;
    },
    destroy() {
      live = undefined;
    },
  };
}

const quiet = { info: () => {}, warn: () => {} };

function matcherWith(templates: number): Matcher {
  const matcher = createMatcher({ threads: 1 });
  const random = seededRandom(templates);
  for (let i = 0; i < templates; i++) matcher.add({ tenantId: 't', mode: 'live' }, { templateId: `tpl_${i}`, userId: `usr_${i}`, descriptor: Float32Array.from(randomVector(random)) });
  return matcher;
}

test('the keeper writes an image when the matcher has moved past the live one or it was destroyed, and not otherwise', async (t) => {
  const matcher = matcherWith(3);
  const image = memoryImage();
  let position = 10n;
  const keeper = createImageKeeper({ image, matcher, position: () => position, intervalMs: 0, logger: quiet });
  await keeper.refresh();
  t.deepEqual(image.writes, [10n], 'no image yet: one is written');
  await keeper.refresh();
  t.deepEqual(image.writes, [10n], 'the live image is at the position: nothing to do');
  position = 12n;
  await keeper.refresh();
  t.deepEqual(image.writes, [10n, 12n], 'the stream moved on');
  image.destroy();
  await keeper.refresh();
  t.deepEqual(image.writes, [10n, 12n, 12n], 'an erasure destroyed it: written again at the same position');
  // Concurrent refreshes share one write.
  position = 13n;
  await Promise.all([keeper.refresh(), keeper.refresh(), keeper.refresh()]);
  t.deepEqual(image.writes, [10n, 12n, 12n, 13n]);
  position = 14n;
  await keeper.close();
  t.deepEqual(image.writes, [10n, 12n, 12n, 13n, 14n], 'close writes a last image');
  await keeper.close();
  t.is(image.writes.length, 5, 'once');
  await matcher.close();
});

test('the keeper writes no image of an empty matcher that never had one, and logs a failed write instead of throwing', async (t) => {
  const empty = matcherWith(0);
  const image = memoryImage();
  const keeper = createImageKeeper({ image, matcher: empty, position: () => 5n, intervalMs: 0, logger: quiet });
  await keeper.close();
  t.deepEqual(image.writes, []);

  const warned: unknown[] = [];
  const failing: GalleryImage = { ...memoryImage(), write: async () => Promise.reject(new Error('disk full')) };
  const matcher = matcherWith(2);
  const second = createImageKeeper({ image: failing, matcher, position: () => 5n, intervalMs: 0, logger: { info: () => {}, warn: (...args: unknown[]) => warned.push(args) } });
  await t.notThrowsAsync(second.refresh());
  t.is(warned.length, 1);
  await second.close();
  await Promise.all([empty.close(), matcher.close()]);
});

test('the keeper looks at its interval', async (t) => {
  const matcher = matcherWith(2);
  const image = memoryImage();
  let position = 1n;
  const keeper = createImageKeeper({ image, matcher, position: () => position, intervalMs: 20, logger: quiet });
  while (image.writes.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  position = 2n;
  while (image.writes.length === 1) await new Promise((resolve) => setTimeout(resolve, 5));
  t.deepEqual(image.writes, [1n, 2n]);
  await keeper.close();
  await matcher.close();
});
