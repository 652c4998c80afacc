#!/usr/bin/env node
/**
 * The `cloudlocker` command's entry (package.json "bin"): CommonJS on
 * purpose, so that it runs before any ES module is read.
 *
 * libuv's thread pool runs every asynchronous file-system call, fsync above
 * all, with four threads by default. A folder of small files keeps many
 * fsyncs in flight (0.3-0.7 ms each on a quiet disk, far more on a busy
 * one): four threads are all held by them, and every other file-system call
 * of every transfer queues behind. THREAD_POOL_SIZE threads let the fsyncs
 * reach the disk together and the short calls pass them (docs/benchmarks.md,
 * small-files).
 *
 * libuv reads UV_THREADPOOL_SIZE once, when the pool starts, and Node 20
 * reads an ES module graph through the pool: set in main.ts, the variable
 * came too late (measured: the pool kept its four threads). Here nothing has
 * used the pool yet. A value already in the environment wins. In-process it
 * is best effort (on Windows it is reported not to take effect); an app that
 * starts the bundle passes it in the child's environment (docs/electron.md).
 */
const THREAD_POOL_SIZE = 16;

if (process.env['UV_THREADPOOL_SIZE'] === undefined || process.env['UV_THREADPOOL_SIZE'] === '') {
  process.env['UV_THREADPOOL_SIZE'] = String(THREAD_POOL_SIZE);
}

// The command itself (an ES module); it reports its own errors and sets the exit code.
void import('./main.js');
