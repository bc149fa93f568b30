import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { AppError } from '../errors/appError.ts';
import { openTemplatePage, type OpenedPage, type TemplatePage } from './templatePages.ts';

/** Port: opens pages of the templates read model for the matcher's load, on worker threads when they are large. */
export interface TemplateOpener {
  /** Resolves with the page opened, or with its `failure`; rejects only when a thread fails. */
  open(page: TemplatePage): Promise<OpenedPage>;
  /** How many pages are worth having in flight: one per thread and one waiting. */
  readonly parallelism: number;
  close(): Promise<void>;
}

export interface TemplateOpenerOptions {
  /** What the users' keys are wrapped under; it goes to the threads, never to a log. */
  readonly masterKey: Buffer;
  /** Worker threads; 0 opens every page on the calling thread. */
  readonly threads: number;
  /** Pages of fewer rows are opened on the calling thread, so a small read model starts no thread; default 2048. */
  readonly inlineRows?: number;
  /** A thread idle this long exits (the load is over); default 1000 ms. */
  readonly idleTimeoutMs?: number;
}

/** The opener: a Piscina pool started by the first large page, and the calling thread for small ones. */
export function createTemplateOpener(options: TemplateOpenerOptions): TemplateOpener {
  const { masterKey, threads } = options;
  const inlineRows = options.inlineRows ?? 2048;
  const idleTimeout = options.idleTimeoutMs ?? 1000;
  if (!Number.isInteger(threads) || threads < 0) throw new AppError('VALIDATION_ERROR', 'Template opener option: threads must be an integer >= 0', { value: threads });
  let pool: Piscina | undefined;
  let closed = false;
  const poolOf = (): Piscina =>
    (pool ??= new Piscina({
      filename: fileURLToPath(new URL('../../workers/templateOpenerWorker.mjs', import.meta.url)),
      name: 'open',
      minThreads: 0,
      maxThreads: threads,
      idleTimeout,
      workerData: { masterKey },
    }));

  function openHere(page: TemplatePage): OpenedPage {
    const opened = openTemplatePage(masterKey, page);
    // What a thread sends back is copied by the transfer; here the ids must be copied out of the page's text.
    return { ...opened, templateIds: structuredClone(opened.templateIds), userIds: structuredClone(opened.userIds) };
  }

  return {
    parallelism: threads === 0 ? 1 : threads + 1,
    async open(page) {
      if (closed) throw new AppError('SERVICE_UNAVAILABLE', 'The template opener is closed');
      if (threads === 0 || page.count < inlineRows) return openHere(page);
      return (await poolOf().run(page, { name: 'open' })) as OpenedPage;
    },
    async close() {
      closed = true;
      await pool?.destroy();
    },
  };
}
