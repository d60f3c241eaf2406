/** @trellis/cli — the `trellis` command. */
export { createProgram, main } from './main.js'
export { buildContract, type ContractArtifact } from './contractBuild.js'
