// The Probot side of benchmarks/bench_probot.py: plain Probot queueing one Redis job
// per event. On issues.opened it LPUSHes a small JSON job (delivery id, repository,
// issue number) onto BENCH_QUEUE in the Redis at BENCH_REDIS_URL, and Probot answers
// the delivery once the push is done, as Steward answers once its message is queued.
// (BENCH_REDIS_URL, not REDIS_URL: Probot reads REDIS_URL for its own rate-limit
// bookkeeping, which this app does not use.) Probot 14 loads apps as ES modules.
import { Redis } from "ioredis";

const QUEUE = process.env.BENCH_QUEUE || "probot:jobs";

/** @param {import('probot').Probot} app */
export default (app) => {
  const redis = new Redis(process.env.BENCH_REDIS_URL || "redis://127.0.0.1:6379/0");

  app.on("issues.opened", async (context) => {
    const job = {
      delivery: context.id,
      repo: context.payload.repository.full_name,
      issue: context.payload.issue.number,
    };
    await redis.lpush(QUEUE, JSON.stringify(job));
  });
};
