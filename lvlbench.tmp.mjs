import { ClassicLevel } from 'classic-level'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
const require = createRequire(import.meta.url)
const binding = require('/work/main/node_modules/classic-level/binding.js')
const db = new ClassicLevel('/tmp/lvlb-' + process.pid, { keyEncoding: 'view', valueEncoding: 'view', compression: false })
await db.open()
const ctx = db[Object.getOwnPropertySymbols(db).find(s => String(s) === 'Symbol(context)')]
function ops(n) { const o = []; for (let i = 0; i < n; i++) { const k = new Uint8Array(randomBytes(i % 3 === 0 ? 33 : 80)); const v = new Uint8Array(randomBytes(i % 5 === 0 ? 700 : 120)); o.push({ type: 'put', key: k, value: v }) } return o }
const A = [], B = []
for (let round = 0; round < 20; round++) {
  let o = ops(12000)
  let t = performance.now(); const p = db._batch(o, { sync: false }); A.push((performance.now() - t)*1000/12000); await p
  o = ops(12000)
  t = performance.now(); const b = binding.batch_init(ctx); for (const op of o) binding.batch_put(b, op.key, op.value); B.push((performance.now() - t)*1000/12000); await binding.batch_write(b, { sync: false })
}
const s = a => { a.sort((x, y) => x - y); return `min ${a[0].toFixed(2)} med ${a[10].toFixed(2)}` }
console.log(`batch_do ${s(A)} µs/op; chained ${s(B)} µs/op`)
await db.close()
