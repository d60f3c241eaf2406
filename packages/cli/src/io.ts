import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { createInterface } from 'node:readline'
import { randomBytes } from '@trellis/crypto'
import { type JsonValue, type Value, valueFromJSON } from '@trellis/ledger'
import { bytesToHex, TrellisError } from '@trellis/utils'

/** CLI-level failures (bad flags, missing files); printed as `error [CODE]: message`, exit code 1. */
export function cliError(code: string, message: string): TrellisError {
  return new TrellisError({ code }, message)
}

/**
 * An integer flag within bounds; `name` is the flag's name without dashes, or (when it holds a
 * space) how to call a positional argument. @throws FLAG_INVALID
 */
export function intFlag(v: string, name: string, min: number, max: number): number {
  // Decimal digits only: Number() would also take '0x10', '1e3' and ' 7 '.
  const n = /^(0|[1-9][0-9]{0,15})$/.test(v) ? Number(v) : Number.NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `in ${min}..${max}`
    throw cliError('FLAG_INVALID', `${name.includes(' ') ? name : `--${name}`} must be an integer ${range}, not "${v}"`)
  }
  return n
}

/**
 * `text` parsed as JSON that the ledger can store (no fractions, NaN or numbers past 2^53; bytes as
 * `{"$bytes": "<base64>"}`), as JSON and as a ledger value; `what` names it in the error.
 * @throws ARGS_INVALID
 */
export function ledgerJSON(text: string, what: string): { readonly json: JsonValue; readonly value: Value } {
  let json: JsonValue
  try {
    json = JSON.parse(text) as JsonValue
  } catch (err) {
    throw cliError('ARGS_INVALID', `${what}: not valid JSON (${(err as Error).message}); quote it for the shell, e.g. '{"name":"alice"}'`)
  }
  try {
    return { json, value: valueFromJSON(json) }
  } catch (err) {
    throw cliError(
      'ARGS_INVALID',
      `${what}: not a ledger value (${(err as Error).message}); numbers are integers, bytes {"$bytes":"<base64>"}`,
    )
  }
}

/**
 * The key password of a local development chain or network: TRELLIS_KEY_PASSWORD, or a random one
 * kept in `file` beside the keys (created on first use, owner-only). Such chains are for one machine,
 * never production.
 */
export async function devPassword(file: string): Promise<string> {
  const env = process.env.TRELLIS_KEY_PASSWORD
  if (env !== undefined && env.length > 0) return env
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim()
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const pw = bytesToHex(randomBytes(16))
  await writeFile(file, `${pw}\n`, { mode: 0o600 })
  return pw
}

const color = process.stdout.isTTY && process.env.NO_COLOR === undefined
export const style = {
  ok: (s: string) => (color ? `\x1b[32m${s}\x1b[0m` : s),
  bold: (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s),
  dim: (s: string) => (color ? `\x1b[2m${s}\x1b[0m` : s),
  err: (s: string) => (color ? `\x1b[31m${s}\x1b[0m` : s),
}

/** One progress line: `✔ what`. */
export function step(message: string): void {
  process.stdout.write(`${style.ok('✔')} ${message}\n`)
}

/** Reads a password from TRELLIS_KEY_PASSWORD, or prompts for it (hidden) when on a terminal. */
export async function readPassword(prompt: string, options: { confirm?: boolean } = {}): Promise<string> {
  const env = process.env.TRELLIS_KEY_PASSWORD
  if (env !== undefined && env.length > 0) return env
  if (!process.stdin.isTTY) {
    throw cliError('PASSWORD_REQUIRED', 'no password: set TRELLIS_KEY_PASSWORD or run on a terminal to be prompted')
  }
  const first = await promptHidden(prompt)
  if (options.confirm === true && (await promptHidden('Repeat password: ')) !== first)
    throw cliError('PASSWORD_MISMATCH', 'the passwords do not match')
  return first
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true })
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WritableStream }
    let muted = false
    out._writeToOutput = (s: string) => {
      if (!muted) out.output.write(s)
    }
    rl.question(prompt, (answer) => {
      rl.close()
      process.stdout.write('\n')
      resolve(answer)
    })
    muted = true
  })
}

export function printJSON(x: unknown): void {
  process.stdout.write(`${JSON.stringify(x, null, 2)}\n`)
}

/** Reads and parses a JSON file, with CLI errors FILE_NOT_FOUND / FILE_INVALID naming `what` it is. */
export async function readJSONFile(path: string, what: string): Promise<unknown> {
  if (!existsSync(path)) throw cliError('FILE_NOT_FOUND', `${what} ${path} does not exist`)
  try {
    return JSON.parse(await readFile(path, 'utf8'))
  } catch {
    throw cliError('FILE_INVALID', `${what} ${path} is not valid JSON`)
  }
}
