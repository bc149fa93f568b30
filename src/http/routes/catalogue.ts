import { adminRoutes } from '../admin/adminRoutes.ts';
import { consoleRoutes, rootRoutes } from '../consoleRoutes.ts';
import { docsRoutes } from '../docsRoutes.ts';
import { devportalRoutes } from '../sdk/devportalRoutes.ts';
import { serviceRoutes } from '../serviceRoutes.ts';
import { erasuresRoutes } from '../v1/erasuresRoutes.ts';
import { facesRoutes } from '../v1/facesRoutes.ts';
import { usersRoutes } from '../v1/usersRoutes.ts';
import { webhooksRoutes } from '../v1/webhooksRoutes.ts';
import { buildOpenApiDocument, type OpenApiDocument } from './openapiDocument.ts';

/** Every route group of the service, in the order the document lists them. */
export const routeGroups = [facesRoutes, usersRoutes, erasuresRoutes, webhooksRoutes, devportalRoutes, adminRoutes, serviceRoutes, docsRoutes, consoleRoutes, rootRoutes] as const;

/** The service's OpenAPI document (GET /v1/openapi.json), from the same declarations the router is built from. */
export function openApiDocument(): OpenApiDocument {
  return buildOpenApiDocument(routeGroups);
}
