#!/usr/bin/env node
// Runs a node from an initialised data directory as its own process, for the fault suites:
//   TRELLIS_KEY_PASSWORD=… node test/support/nodeRunner.mjs --data <dir> [--port 0] [--block-interval 20]
//     [--network <network.json>] [--fast-consensus 1] [--background-nice N]
// Prints one JSON line `{"url":…,"pid":…,"height":…}` on stdout once the API listens; logs go to stderr.
// Runs the built node (`npx tsc -b packages/node` first). SIGTERM/SIGINT close it gracefully.
import { pino } from 'pino'
import { startNode } from '../../packages/node/dist/index.js'

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback
}

const dataDir = flag('data')
const password = process.env.TRELLIS_KEY_PASSWORD
if (dataDir === undefined || password === undefined) {
  process.stderr.write('usage: TRELLIS_KEY_PASSWORD=… node nodeRunner.mjs --data <dir> [--port N] [--block-interval MS]\n')
  process.exit(2)
}

const logger = pino({ level: process.env.TRELLIS_LOG_LEVEL ?? 'warn' }, pino.destination(2))
const { node, url } = await startNode({
  dataDir,
  password,
  logger,
  port: Number(flag('port', '0')),
  blockIntervalMs: Number(flag('block-interval', '20')),
  verifyWorkers: Number(flag('verify-workers', '1')),
  backgroundNiceness: Number(flag('background-nice', '0')),
  ...(flag('network') === undefined ? {} : { networkFile: flag('network') }),
  // Shorter consensus timeouts keep fault suites quick (a dead proposer costs one propose timeout).
  ...(flag('fast-consensus') === undefined
    ? {}
    : {
        consensus: {
          timeouts: { proposeMs: 1000, proposeDeltaMs: 250, prevoteMs: 500, prevoteDeltaMs: 250, precommitMs: 500, precommitDeltaMs: 250 },
          emptyBlockIntervalMs: 500,
          gossipIntervalMs: 250,
          maxClockDriftMs: 10_000,
        },
      }),
})
process.stdout.write(`${JSON.stringify({ url, pid: process.pid, height: node.chain.head.height })}\n`)

let closing = false
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    node.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'close failed')
        process.exit(1)
      },
    )
  })
}
