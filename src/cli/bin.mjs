#!/usr/bin/env node
// Entry point for `facesmash` and `npm run cli`: loads TypeScript through tsx, then the CLI.
import { register } from 'tsx/esm/api';

register();
const args = process.argv.slice(2);
if (args.length === 1 && args[0] === 'serve') {
  // The server listens before the rest of the code is loaded (see serveCommand.ts).
  const { runServe } = await import('./serveCommand.ts');
  process.exitCode = await runServe(process.env);
} else {
  const { runCli } = await import('./cli.ts');
  process.exitCode = await runCli(args, process.env);
}
// The command is done: a handle some library left open (a worker, a socket) must not keep the
// process alive. The timer is unref'd, so a process with nothing left exits at once without it.
setTimeout(() => process.exit(), 100).unref();
