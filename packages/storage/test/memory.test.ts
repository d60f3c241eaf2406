import { createMemoryStore } from '../src/index.js'
import { runKVConformance } from './conformance.js'

runKVConformance('MemoryStore', { create: async () => createMemoryStore() }, { propertyRuns: 300 })
