#!/usr/bin/env node
// Fails when a workspace package depends on a package of a higher layer or when dependencies form a
// cycle. The layer table mirrors ARCHITECTURE.md; package.json dependencies ARE the layer graph.
import { readFileSync } from 'node:fs'

const LAYERS = {
  utils: 0,
  contract: 0,
  crypto: 1,
  ledger: 2,
  storage: 2,
  api: 3,
  vm: 3,
  consensus: 3,
  p2p: 3,
  node: 4,
  sdk: 5,
  cli: 5,
  baas: 6,
  console: 6,
  bench: 7,
}
const root = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const graph = new Map()
const errors = []
for (const ws of root.workspaces) {
  const pkg = JSON.parse(readFileSync(new URL(`../${ws}/package.json`, import.meta.url), 'utf8'))
  const name = pkg.name.replace('@trellis/', '')
  const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies })
    .filter((d) => d.startsWith('@trellis/'))
    .map((d) => d.replace('@trellis/', ''))
  graph.set(name, deps)
  if (!(name in LAYERS)) errors.push(`${name}: not in the layer table (scripts/checkLayers.mjs)`)
  for (const d of deps) {
    if (!(d in LAYERS)) errors.push(`${name} -> ${d}: ${d} is not in the layer table`)
    else if (LAYERS[d] >= LAYERS[name] && !(name === 'cli' && d === 'sdk')) {
      errors.push(`${name} (layer ${LAYERS[name]}) -> ${d} (layer ${LAYERS[d]}): dependency does not go down`)
    }
  }
}
const state = new Map()
function visit(n, path) {
  if (state.get(n) === 'done') return
  if (state.get(n) === 'active') return errors.push(`cycle: ${[...path, n].join(' -> ')}`)
  state.set(n, 'active')
  for (const d of graph.get(n) ?? []) visit(d, [...path, n])
  state.set(n, 'done')
}
for (const n of graph.keys()) visit(n, [])
if (errors.length > 0) {
  console.error(`layer check failed:\n  ${errors.join('\n  ')}`)
  process.exit(1)
}
console.log(`layer check: ${graph.size} packages, all dependencies go down, no cycles`)
