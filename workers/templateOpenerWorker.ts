import { move, Piscina, transferableSymbol, valueSymbol } from 'piscina';
import { openTemplatePage, type OpenedPage, type TemplatePage } from '../src/matching/templatePages.ts';

// Read when the handler loads, after Piscina has set it (a binding imported from 'piscina' may be read earlier).
const masterKey = Buffer.from((Piscina.workerData as { masterKey: Uint8Array }).masterKey);

/** Piscina handler: opens a page of templates; its descriptors, flags and gallery numbers are moved, not copied. */
export function open(page: TemplatePage): OpenedPage {
  const opened = openTemplatePage(masterKey, page);
  return move({ [transferableSymbol]: [opened.descriptors.buffer, opened.opened.buffer, opened.galleryOf.buffer], [valueSymbol]: opened }) as unknown as OpenedPage;
}
