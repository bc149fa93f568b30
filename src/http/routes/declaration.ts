import type { Context } from 'koa';
import type { z } from 'zod';
import type { ErrorCode } from '../../errors/appError.ts';
import type { CommandContext } from '../../eventStore/metadata.ts';
import type { TenantContext } from '../../tenancy/tenant.ts';
import type { Scope } from '../../tenancy/tenantEvents.ts';
import type { GroupInfo } from './groups.ts';

/**
 * One route, declared once: the Koa router (routes/mount.ts) and the OpenAPI document
 * (routes/openapiDocument.ts) are both built from these. Paths are OpenAPI templates
 * (`/v1/users/{id}`); handlers get their input parsed by the schemas declared here.
 */
export type HttpMethod = 'get' | 'post' | 'patch' | 'delete';

/**
 * Who may call: an API key holding a scope (/v1, the SDK), the operator token (/admin), the
 * metrics token when one is configured (/metrics), or anyone.
 */
export type RouteAuth = { readonly kind: 'key'; readonly scope: Scope } | { readonly kind: 'admin' } | { readonly kind: 'metrics' } | { readonly kind: 'open' };

export interface BodyDeclaration<B extends z.ZodType> {
  readonly schema: B;
  /** Its name in `components.schemas`. */
  readonly name: string;
  readonly description: string;
  /** `image`: up to 8 MB when the body carries an `image`, 1 MB otherwise; `descriptor`: 1 MB. */
  readonly limit: 'image' | 'descriptor';
  /** A body the schema accepts, shown in /docs (a test parses it with the schema). */
  readonly example: unknown;
}

/** A JSON answer: `schema` describes `data` in the envelope, or the whole body on the SDK's routes. */
export interface JsonResponseDeclaration {
  readonly status: number;
  readonly description: string;
  readonly schema: z.ZodType;
  /** Its name in `components.schemas`. */
  readonly name: string;
  /** What an answer looks like, shown in /docs (a test parses it with the schema). */
  readonly example: unknown;
  /** Response headers beyond X-Request-Id (and the rate-limit headers of keyed routes), by component name. */
  readonly headers?: readonly string[];
}

/** An answer that is not JSON (a page, a script, Prometheus text): the handler writes it. */
export interface RawResponseDeclaration {
  readonly status: number;
  readonly description: string;
  readonly contentType: string;
  /** A JSON Schema of the content, when there is one worth stating. */
  readonly contentSchema?: Readonly<Record<string, unknown>>;
}

export type ResponseDeclaration = JsonResponseDeclaration | RawResponseDeclaration;

/** What a handler answers: `data` (the envelope's, or the SDK's whole body), the status, and what the write touched. */
export interface Answer {
  readonly status?: number;
  readonly data: unknown;
  /** Users this answer names: a stored idempotent answer is deleted when any of them is erased. */
  readonly subjects?: readonly string[];
  /** Global position of the write, sent as X-Position (read-your-writes for the caller). */
  readonly position?: bigint;
}

/** The handler wrote the response itself (a raw route). */
export const written = Symbol('written');

export interface RouteInput<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  /** The key's tenant and mode (key routes only). */
  readonly tenant: TenantContext;
  /** Tenant, request id, client address and user agent, for commands (key routes only). */
  readonly context: CommandContext;
  /** The request id (every route). */
  readonly requestId: string;
  /** The raw JSON body as sent (the idempotency fingerprint uses it); undefined without a body. */
  readonly rawBody: unknown;
}

export interface RouteDeclaration<Deps, P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  readonly method: HttpMethod;
  /** An OpenAPI path template, absolute (the group's prefix included). */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly auth: RouteAuth;
  /** Path parameters: an object schema whose keys are the template's `{names}` (with `.meta({description})`). */
  readonly params?: P;
  /** Query parameters: a strict object schema. */
  readonly query?: Q;
  readonly body?: BodyDeclaration<B>;
  /**
   * `stored`: a repeat with the same Idempotency-Key and body gets the first answer and runs nothing.
   * `validated`: the key is checked and the route is deterministic without side effects, so nothing is stored.
   */
  readonly idempotency?: 'stored' | 'validated';
  /** The route reads the read models after the caller's own writes (and honours `X-Read-After`): see http/readConsistency.ts. */
  readonly readAfter?: true;
  readonly responses: readonly ResponseDeclaration[];
  /** Error codes the route itself can answer (the guard's 401/403/429 are added from `auth`). */
  readonly errors: readonly ErrorCode[];
  /** Left out of the OpenAPI document (the docs UI's own assets). */
  readonly undocumented?: true;
  handle(deps: Deps, input: RouteInput<z.infer<P>, z.infer<Q>, z.infer<B>>, ctx: Context): Promise<Answer | typeof written>;
}

/** A group of routes (one router) and the dependencies its handlers need. */
export interface RouteGroup<Deps> {
  readonly info: GroupInfo;
  readonly routes: readonly RouteDeclaration<Deps>[];
}

/** Declares a route, keeping the handler's input typed by the schemas. */
export function route<Deps, P extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined, B extends z.ZodType = z.ZodUndefined>(
  declaration: RouteDeclaration<Deps, P, Q, B>,
): RouteDeclaration<Deps> {
  return declaration as unknown as RouteDeclaration<Deps>;
}

/** A route group whose routes all lie under its prefix (checked: a route outside it is a mistake). */
export function routeGroup<Deps>(info: GroupInfo, routes: readonly RouteDeclaration<Deps>[]): RouteGroup<Deps> {
  for (const declared of routes) {
    const inside = info.prefix === '' || declared.path === info.prefix || declared.path.startsWith(`${info.prefix}/`);
    if (!inside) throw new Error(`${declared.operationId}: ${declared.path} is not under ${info.prefix}`);
  }
  return { info, routes };
}

export const isJsonResponse = (response: ResponseDeclaration): response is JsonResponseDeclaration => 'schema' in response;
