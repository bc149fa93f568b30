import Router from '@koa/router';
import type { EventStore } from '../../eventStore/eventStore.ts';
import { genesisDigest, readChain, verifyChain, type ChainedReceipt } from '../../compliance/receiptChain.ts';
import { respond } from '../envelope.ts';
import { parseInput } from '../validation.ts';
import type { TenantResolver } from './commandRoute.ts';
import { listErasuresQuery } from './schemas.ts';

/** GET /v1/erasures: the tenant's erasure receipts, newest first, with the chain verified. */
export function erasuresRouter(deps: { readonly resolveTenant: TenantResolver; readonly store: EventStore }): Router {
  const router = new Router({ prefix: '/v1/erasures' });
  router.get('/', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'users:delete');
    const query = parseInput(listErasuresQuery, ctx.query, 'query');
    const chain = await readChain(deps.store, tenant.tenantId);
    const verdict = verifyChain(chain);
    const newestFirst: ChainedReceipt[] = [...chain].reverse();
    const receipts = newestFirst.slice((query.page - 1) * query.perPage, query.page * query.perPage);
    respond(ctx, {
      receipts,
      chain: { length: chain.length, headDigest: chain.at(-1)?.digest ?? genesisDigest, verified: verdict.ok },
      totalItems: chain.length,
      page: query.page,
      perPage: query.perPage,
      totalPages: Math.ceil(chain.length / query.perPage),
    });
  });
  return router;
}
