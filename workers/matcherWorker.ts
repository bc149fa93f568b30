import { move } from 'piscina';
import { loadKernel, type ScanTask } from './matcherKernel.ts';

const kernel = await loadKernel();

/** Piscina handler: scans the task's segments; the packed candidates buffer is moved, not copied. */
export function scan(task: ScanTask): ArrayBuffer {
  return move(kernel.scan(task)) as ArrayBuffer;
}
