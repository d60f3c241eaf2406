import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, extname, resolve } from 'node:path'
import { Sandbox } from '@trellis/vm'
import { build } from 'esbuild'
import { cliError } from './io.js'

/** The file `trellis contract build` writes and `trellis contract deploy` reads. */
export interface ContractArtifact {
  readonly format: 'trellis-contract/1'
  /** Suggested name (from the source file or its directory); deploy may choose another. */
  readonly name: string
  readonly version: string
  /** SHA-256 of the UTF-8 code: what the chain records as the contract's code hash. */
  readonly codeHash: string
  readonly manifest: {
    readonly version: string
    readonly description: string
    readonly methods: ReadonlyArray<{ name: string; kind: 'call' | 'query'; description: string; args: unknown }>
  }
  readonly code: string
}

const require = createRequire(import.meta.url)

/**
 * Bundles a TypeScript contract (a module whose default export is `defineContract(...)`) into one
 * deterministic script: the same source and toolchain give the same bytes, hence the same code
 * hash, on every machine. Only `@trellis/contract` and the contract's own files may be imported;
 * Node.js built-ins do not resolve (platform "neutral").
 */
export async function buildContract(entry: string, name?: string): Promise<ContractArtifact> {
  const file = resolve(entry)
  if (!existsSync(file)) throw cliError('FILE_NOT_FOUND', `no contract source at ${entry}`)
  const contractLib = require.resolve('@trellis/contract')
  const wrapper =
    `import def from ${JSON.stringify(file)};\n` +
    `import { __entry } from '@trellis/contract';\n` +
    `globalThis.__trellis_entry = function (req) { return __entry(def, req) };\n`
  let code: string
  try {
    const out = await build({
      stdin: { contents: wrapper, resolveDir: dirname(file), sourcefile: 'entry.js', loader: 'js' },
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'neutral',
      target: 'es2020',
      minify: true,
      legalComments: 'none',
      charset: 'utf8',
      sourcemap: false,
      alias: { '@trellis/contract': contractLib },
      mainFields: ['module', 'main'],
      logLevel: 'silent',
    })
    code = (out.outputFiles[0] as { text: string }).text
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> }).errors ?? []
    const detail = errors.map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text)).join('; ')
    throw cliError('CONTRACT_BUILD_FAILED', `the contract does not build: ${detail || String(err)}`)
  }
  const sandbox = await Sandbox.create()
  const request = JSON.stringify({
    kind: 'describe',
    method: '',
    args: null,
    env: {
      contract: { name: '', version: '' },
      caller: null,
      origin: null,
      tx: null,
      block: { height: 0, timestamp: 0, chainId: '' },
    },
  })
  const described = await sandbox.run(code, '__trellis_entry', request, {})
  if (!described.ok) {
    throw cliError(
      'CONTRACT_BUILD_FAILED',
      `the bundle does not load as a contract (${described.code}: ${described.message}); does the module default-export defineContract(...)?`,
    )
  }
  const manifest = described.value as ContractArtifact['manifest']
  const suggested = name ?? (basename(file, extname(file)) === 'index' ? basename(dirname(dirname(file))) : basename(file, extname(file)))
  return {
    format: 'trellis-contract/1',
    name: suggested,
    version: manifest.version,
    codeHash: createHash('sha256').update(code, 'utf8').digest('hex'),
    manifest,
    code,
  }
}
