import { ConfigError, loadConfig } from '../config/config.ts';
import { createLogger } from '../logging/logger.ts';
import { serve } from './serve.ts';

/**
 * `facesmash serve` (what `npm start` runs), without loading the other commands: the port is
 * listening after this much code, and the service's own code loads behind it.
 */
export async function runServe(env: Readonly<Record<string, string | undefined>>): Promise<number> {
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  try {
    return await serve(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, 'cannot start');
    return 1;
  }
}
