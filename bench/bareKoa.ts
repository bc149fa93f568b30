// The baseline of bench:api: the smallest Koa app answering JSON, in a process of its own, on the
// port given as the first argument.
import Koa from 'koa';

const app = new Koa();
app.use((ctx) => {
  ctx.body = { success: true, data: { status: 'ok' } };
});
app.listen(Number(process.argv[2]), '127.0.0.1');
