import type { Logger } from 'pino'
import { createApiServer } from './api/server.js'
import { loadGenesis, loadValidatorKey } from './dataDir.js'
import type { Executor } from './executor/types.js'
import { loadNetworkFile, networkOptionsFor } from './networkDir.js'
import { TrellisNode } from './node.js'
import { publicKeyFromPrivate } from '@trellis/crypto'
import { defaultNodeOptions, type NodeOptions } from './options.js'

export interface StartNodeOptions extends Partial<Omit<NodeOptions, 'dataDir'>> {
  readonly dataDir: string
  /** A `network.json`: the node finds its p2p port and its peers there (multi-validator chains). */
  readonly networkFile?: string
  /** Password of the validator key file. */
  readonly password: string
  readonly logger: Logger
  readonly executor?: Executor
}

/**
 * Loads a data directory (genesis + validator key), opens the node and serves its API.
 * @throws TrellisError CONFIG_INVALID | GENESIS_INVALID | KEYSTORE_BAD_PASSWORD | STORAGE_OPEN_FAILED
 */
export async function startNode(o: StartNodeOptions): Promise<{ node: TrellisNode; url: string }> {
  const { dataDir, password, logger, executor, networkFile, ...rest } = o
  const genesis = await loadGenesis(dataDir)
  const validatorKey = await loadValidatorKey(dataDir, password)
  const network =
    networkFile === undefined ? rest.network : networkOptionsFor(await loadNetworkFile(networkFile), publicKeyFromPrivate(validatorKey))
  const options: NodeOptions = {
    ...defaultNodeOptions,
    ...rest,
    dataDir,
    mempool: { ...defaultNodeOptions.mempool, ...rest.mempool },
    ...(network === undefined ? {} : { network }),
  }
  const node = await TrellisNode.open(options, { logger, genesis, validatorKey, ...(executor === undefined ? {} : { executor }) })
  try {
    const server = await createApiServer(node)
    node.server = server
    await server.listen({ host: options.host, port: options.port })
    const addr = server.server.address()
    const port = typeof addr === 'object' && addr !== null ? addr.port : options.port
    const url = `http://${options.host}:${port}`
    logger.info({ url }, 'API listening')
    return { node, url }
  } catch (err) {
    await node.close()
    throw err
  }
}
