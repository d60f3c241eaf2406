/**
 * glibc malloc settings for a node process (ADR 0024). LevelDB builds each memtable (~4 MB) in
 * blocks from malloc, on whichever libuv thread writes, and the state tree packs a block's nodes
 * into 1 MiB arrays. With glibc's defaults that memory goes back to the system once freed (per-thread
 * arenas trimmed, large blocks unmapped), so the next memtable or block faults its pages in again:
 * ~14 µs a page fault on this project's machine kind, ~2,500 faults a second at 4,000 transfers a
 * second. One arena, large blocks from the heap and a high trim threshold keep that memory for reuse:
 * the node's resident size stays near its peak instead of shrinking between bursts.
 */
export const MALLOC_TUNABLES = 'glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432'

/**
 * The environment for a spawned node process: `env` with {@link MALLOC_TUNABLES}, unless it sets
 * `GLIBC_TUNABLES` itself (an operator's own settings win). Ignored where the C library is not glibc.
 */
export function nodeProcessEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.GLIBC_TUNABLES === undefined ? { ...env, GLIBC_TUNABLES: MALLOC_TUNABLES } : { ...env }
}
