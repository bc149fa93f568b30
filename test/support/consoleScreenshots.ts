/**
 * Makes the README's console screenshots (test/fixtures/console-screenshots/) from the ones the
 * browser test saved (test/output/console/): 900 px wide, palette PNGs.
 * Run after `npx ava test/console.browser.test.ts`: `node --import tsx test/support/consoleScreenshots.ts`.
 */
import path from 'node:path';
import sharp from 'sharp';

const from = path.join(import.meta.dirname, '..', 'output', 'console');
const to = path.join(import.meta.dirname, '..', 'fixtures', 'console-screenshots');
/** The page, and which part of a long page to keep (its top, or its bottom where the news is). */
const pages: ReadonlyArray<readonly [string, 'top' | 'bottom']> = [
  ['tenants', 'top'],
  ['tenant', 'top'],
  ['keys', 'top'],
  ['usage', 'top'],
  ['users', 'top'],
  ['user', 'top'],
  ['audit', 'top'],
  ['erasure', 'bottom'],
  ['webhooks', 'top'],
  ['detect', 'top'],
  ['test-key-users', 'top'],
];

for (const [name, part] of pages) {
  const source = path.join(from, `${name}.png`);
  const { width = 0, height = 0 } = await sharp(source).metadata();
  const kept = Math.min(height, 1400);
  const info = await sharp(source)
    .extract({ left: 0, top: part === 'top' ? 0 : height - kept, width, height: kept })
    .resize({ width: name === 'detect' ? 640 : 900 })
    .png({ palette: true, quality: name === 'detect' ? 60 : 80, compressionLevel: 9, effort: 10 })
    .toFile(path.join(to, `${name}.png`));
  console.log(`${name}.png ${info.width}×${info.height} ${Math.round(info.size / 1024)} KiB`);
}
