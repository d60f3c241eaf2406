/** @trellis/cli — the `trellis` command. */
export { createProgram, main } from './main.js'
