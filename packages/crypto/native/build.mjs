// Install step of @trellis/crypto: compiles the native SHA-256 and P-256 verification (binding.gyp,
// ADRs 0021 and 0023) with node-gyp. They are accelerators, not requirements: when they cannot be
// built (no compiler, no Node headers, no OpenSSL symbols), hashing stays in JavaScript and P-256
// verification on node:crypto, and this says so. TRELLIS_NATIVE=0 skips the build.
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
if (process.env.TRELLIS_NATIVE === '0') process.exit(0)
// npm runs install scripts with its own node-gyp: npm_config_node_gyp names its entry point.
const gyp = process.env.npm_config_node_gyp
const run = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
if (run.status !== 0) {
  process.stderr.write(
    '@trellis/crypto: the native addon could not be built; hashing falls back to JavaScript and P-256 verification to node:crypto (slower, same results).\n',
  )
}
