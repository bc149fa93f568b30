// The matcher pool's entry point. Piscina's worker threads on Node 20 do not inherit the loader
// that `--import tsx` gave the main thread, so register it before importing the TypeScript handler.
import { register } from 'tsx/esm/api';

register();
const handlers = await import('./matcherWorker.ts');

/** See matcherWorker.ts. */
export const scan = handlers.scan;
export const copy = handlers.copy;
