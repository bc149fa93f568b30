#!/usr/bin/env node
// Entry point for `facesmash` and `npm run cli`: loads TypeScript through tsx, then the CLI.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('./cli.ts');
process.exitCode = await runCli(process.argv.slice(2), process.env);
