import type { EventStore } from '../../eventStore/eventStore.ts';
import { genesisDigest, readChain, verifyChain, type ChainedReceipt } from '../../compliance/receiptChain.ts';
import { route, routeGroup } from '../routes/declaration.ts';
import { groups } from '../routes/groups.ts';
import { exampleReceipt } from './usersRoutes.ts';
import { listErasuresQuery, listErasuresResponse } from './schemas.ts';

export interface ErasuresRouteDeps {
  readonly store: EventStore;
}

/** GET /v1/erasures: the tenant's erasure receipts, newest first, with the chain verified. */
export const erasuresRoutes = routeGroup<ErasuresRouteDeps>(groups.erasures, [
  route({
    method: 'get',
    path: '/v1/erasures',
    operationId: 'listErasures',
    summary: 'Erasure receipts',
    description: "The tenant's erasure receipts, newest first, and the state of their hash chain (each digest covers the receipt and the digest before it, so a removed or altered receipt shows).",
    tags: ['users'],
    auth: { kind: 'key', scope: 'users:delete' },
    query: listErasuresQuery,
    responses: [
      {
        status: 200,
        description: 'One page of receipts.',
        schema: listErasuresResponse,
        name: 'ListErasuresResponse',
        example: { receipts: [exampleReceipt], chain: { length: 3, headDigest: exampleReceipt.digest, verified: true }, totalItems: 3, page: 1, perPage: 1, totalPages: 3 },
      },
    ],
    errors: ['VALIDATION_ERROR', 'INTERNAL_ERROR'],
    async handle(deps, { query, tenant }) {
      const chain = await readChain(deps.store, tenant.tenantId);
      const verdict = verifyChain(chain);
      const newestFirst: ChainedReceipt[] = [...chain].reverse();
      const receipts = newestFirst.slice((query.page - 1) * query.perPage, query.page * query.perPage);
      return {
        data: {
          receipts,
          chain: { length: chain.length, headDigest: chain.at(-1)?.digest ?? genesisDigest, verified: verdict.ok },
          totalItems: chain.length,
          page: query.page,
          perPage: query.perPage,
          totalPages: Math.ceil(chain.length / query.perPage),
        },
      };
    },
  }),
]);
