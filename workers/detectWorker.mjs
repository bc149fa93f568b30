// Piscina worker threads on Node 20 do not inherit `--import tsx`: register it here, then load the
// TypeScript worker and re-export its named handlers.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./detectWorker.ts');
export const detect = worker.detect;
export const warmUp = worker.warmUp;
