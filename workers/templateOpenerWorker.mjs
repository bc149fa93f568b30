// The template opener pool's entry point. Piscina's worker threads on Node 20 do not inherit the
// loader that `--import tsx` gave the main thread, so register it before importing the handler.
import { register } from 'tsx/esm/api';

register();
const handlers = await import('./templateOpenerWorker.ts');

/** See templateOpenerWorker.ts. */
export const open = handlers.open;
