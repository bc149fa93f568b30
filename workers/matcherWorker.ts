import { move } from 'piscina';
import { copyRows } from '../src/matching/shard.ts';
import { loadKernel, type CopyTask, type ScanTask } from './matcherKernel.ts';

const kernel = await loadKernel();

/** Piscina handler: scans the task's segments; the packed candidates buffer is moved, not copied. */
export function scan(task: ScanTask): ArrayBuffer {
  return move(kernel.scan(task)) as ArrayBuffer;
}

/** Piscina handler: a compaction's copy, off the event loop. */
export function copy(task: CopyTask): void {
  copyRows(task.source, task.target, task.rows);
}
