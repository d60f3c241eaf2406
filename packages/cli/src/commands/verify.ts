import { join } from 'node:path'
import {
  genesisFromJSON,
  receiptToJSON,
  type StateValueProofJSON,
  type TrustAnchor,
  type TxProofJSON,
  txToJSON,
  valueToJSON,
  verifyStateValueProof,
  verifyTxProof,
} from '@trellis/ledger'
import { trustAfterValidatorChange } from '@trellis/sdk'
import { bytesToHex } from '@trellis/utils'
import { cliError, printJSON, readJSONFile, step } from '../io.js'

/**
 * `trellis verify`: checks a proof file offline against the validator set of a genesis file — no node
 * is contacted. Accepts a bare proof or an API response that contains one under `proof`.
 */
export async function verifyCommand(file: string, flags: { genesis?: string; data?: string; valset?: string[] }): Promise<void> {
  const genesisPath = flags.genesis ?? (flags.data === undefined ? undefined : join(flags.data, 'genesis.json'))
  if (genesisPath === undefined) throw cliError('FLAG_INVALID', 'name the trusted genesis with --genesis <file> (or --data <dir>)')
  const genesis = genesisFromJSON(await readJSONFile(genesisPath, 'genesis'))
  let proof = (await readJSONFile(file, 'proof file')) as Record<string, unknown>
  if (typeof proof === 'object' && proof !== null && typeof proof.proof === 'object' && proof.kind === undefined)
    proof = proof.proof as Record<string, unknown>
  let trust: TrustAnchor = { chainId: genesis.chainId, validators: genesis.validators }
  // Each validator-set change, proven under the set before it, moves the trust to the next set.
  for (const path of flags.valset ?? []) {
    trust = trustAfterValidatorChange(trust, (await readJSONFile(path, 'validator-set proof')) as StateValueProofJSON)
    step(`validator-set change ${path} verified: ${'validators' in trust ? trust.validators.validators.length : 0} validators`)
  }
  const by = (flags.valset ?? []).length === 0 ? 'the genesis validators' : 'the validators in force after the changes given'
  if (proof?.kind === 'tx') {
    const v = verifyTxProof(proof as unknown as TxProofJSON, trust)
    step(`VALID: tx ${bytesToHex(v.tx.id)} is in block ${v.header.height} (${bytesToHex(v.blockHash)}), certified by ${by}`)
    printJSON({ height: v.header.height, timestamp: v.header.timestamp, tx: txToJSON(v.tx), receipt: receiptToJSON(v.receipt) })
    return
  }
  if (proof?.kind === 'state') {
    const v = verifyStateValueProof(proof as unknown as StateValueProofJSON, trust)
    const what = v.value === undefined ? 'is ABSENT' : 'has the value below'
    step(`VALID: ${v.contract}/${v.key} ${what} at height ${v.header.height} (${bytesToHex(v.blockHash)})`)
    if (v.value !== undefined) printJSON(valueToJSON(v.value))
    return
  }
  throw cliError('FILE_INVALID', `${file} is not a Trellis proof (kind must be "tx" or "state")`)
}
