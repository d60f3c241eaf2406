import { compareBytes } from '@trellis/utils'
import type { NormalizedRange } from '../validate.js'

/**
 * A node of a persistent (immutable) AVL tree ordered by unsigned byte order of keys. Updates copy
 * the path from the root to the change and share everything else, so any root ever published stays a
 * valid, unchanging tree: holding on to a root is an O(1) snapshot.
 */
export interface AvlNode {
  readonly key: Uint8Array
  readonly value: Uint8Array
  readonly left: AvlNode | undefined
  readonly right: AvlNode | undefined
  readonly height: number
}

/** The empty tree. */
export type AvlTree = AvlNode | undefined

function height(node: AvlTree): number {
  return node === undefined ? 0 : node.height
}

function node(key: Uint8Array, value: Uint8Array, left: AvlTree, right: AvlTree): AvlNode {
  const hl = height(left)
  const hr = height(right)
  return { key, value, left, right, height: Math.max(hl, hr) + 1 }
}

// Builds a node whose subtrees differ in height by at most 2 and restores the AVL invariant.
function balance(key: Uint8Array, value: Uint8Array, left: AvlTree, right: AvlTree): AvlNode {
  const hl = height(left)
  const hr = height(right)
  if (hl > hr + 1) {
    const l = left as AvlNode
    if (height(l.left) >= height(l.right)) return node(l.key, l.value, l.left, node(key, value, l.right, right))
    const lr = l.right as AvlNode
    return node(lr.key, lr.value, node(l.key, l.value, l.left, lr.left), node(key, value, lr.right, right))
  }
  if (hr > hl + 1) {
    const r = right as AvlNode
    if (height(r.right) >= height(r.left)) return node(r.key, r.value, node(key, value, left, r.left), r.right)
    const rl = r.left as AvlNode
    return node(rl.key, rl.value, node(key, value, left, rl.left), node(r.key, r.value, rl.right, r.right))
  }
  return node(key, value, left, right)
}

/** The value under `key`, or `undefined`. */
export function avlGet(root: AvlTree, key: Uint8Array): Uint8Array | undefined {
  let n = root
  while (n !== undefined) {
    const c = compareBytes(key, n.key)
    if (c === 0) return n.value
    n = c < 0 ? n.left : n.right
  }
  return undefined
}

/** A new tree with `key` set to `value`; `root` is left unchanged. */
export function avlInsert(root: AvlTree, key: Uint8Array, value: Uint8Array): AvlNode {
  if (root === undefined) return { key, value, left: undefined, right: undefined, height: 1 }
  const c = compareBytes(key, root.key)
  if (c < 0) return balance(root.key, root.value, avlInsert(root.left, key, value), root.right)
  if (c > 0) return balance(root.key, root.value, root.left, avlInsert(root.right, key, value))
  return { key: root.key, value, left: root.left, right: root.right, height: root.height }
}

function removeMin(n: AvlNode): AvlTree {
  if (n.left === undefined) return n.right
  return balance(n.key, n.value, removeMin(n.left), n.right)
}

/** A new tree without `key`; returns `root` itself when `key` is absent. */
export function avlRemove(root: AvlTree, key: Uint8Array): AvlTree {
  if (root === undefined) return undefined
  const c = compareBytes(key, root.key)
  if (c < 0) {
    const left = avlRemove(root.left, key)
    return left === root.left ? root : balance(root.key, root.value, left, root.right)
  }
  if (c > 0) {
    const right = avlRemove(root.right, key)
    return right === root.right ? root : balance(root.key, root.value, root.left, right)
  }
  if (root.left === undefined) return root.right
  if (root.right === undefined) return root.left
  let min = root.right
  while (min.left !== undefined) min = min.left
  return balance(min.key, min.value, root.left, removeMin(root.right))
}

/** The nodes of `root` within `range`, in key order (descending when `range.reverse`), up to its limit. */
export function* avlRange(root: AvlTree, range: NormalizedRange): Generator<AvlNode, void, undefined> {
  const { lower, lowerInclusive, upper, upperInclusive, reverse, limit } = range
  if (limit === 0) return
  // A key is past the far bound when it is above `upper` (forward) or below `lower` (reverse); the
  // near bound is handled once, when seeking the first node.
  const aboveLower = (k: Uint8Array): boolean => {
    if (lower === undefined) return true
    const c = compareBytes(k, lower)
    return lowerInclusive ? c >= 0 : c > 0
  }
  const belowUpper = (k: Uint8Array): boolean => {
    if (upper === undefined) return true
    const c = compareBytes(k, upper)
    return upperInclusive ? c <= 0 : c < 0
  }
  const inNear = reverse ? belowUpper : aboveLower
  const inFar = reverse ? aboveLower : belowUpper
  // The stack holds the in-order successors still to visit: each node's "next" subtree is descended
  // only after the node itself is yielded.
  const stack: AvlNode[] = []
  let n = root
  while (n !== undefined) {
    if (inNear(n.key)) {
      stack.push(n)
      n = reverse ? n.right : n.left
    } else {
      n = reverse ? n.left : n.right
    }
  }
  let count = 0
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (!inFar(top.key)) return
    yield top
    if (++count >= limit) return
    n = reverse ? top.left : top.right
    while (n !== undefined) {
      stack.push(n)
      n = reverse ? n.right : n.left
    }
  }
}
