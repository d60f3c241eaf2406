// Validates arguments against a contract manifest's schema descriptors (published by
// `@trellis/contract`), so that admission rejects malformed calls before they reach a block. The
// sandbox validates again with the contract's own schema at execution; the two agree by design.

type Descriptor = { readonly type: string; readonly [k: string]: unknown }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function at(path: string): string {
  return path === '' ? 'args' : `args${path}`
}

/** Why `value` does not match `d`, or undefined. Unknown descriptor types accept anything. */
export function checkArgs(d: unknown, value: unknown, path = ''): string | undefined {
  if (!isObject(d) || typeof d.type !== 'string') return undefined
  const desc = d as Descriptor
  switch (desc.type) {
    case 'string': {
      if (typeof value !== 'string') return `${at(path)}: expected a string`
      if (typeof desc.minLength === 'number' && value.length < desc.minLength)
        return `${at(path)}: must be at least ${desc.minLength} characters`
      if (typeof desc.maxLength === 'number' && value.length > desc.maxLength)
        return `${at(path)}: must be at most ${desc.maxLength} characters`
      if (typeof desc.pattern === 'string') {
        let re: RegExp | undefined
        try {
          re = new RegExp(desc.pattern)
        } catch {
          return undefined // a pattern Node cannot compile is left to the sandbox's check
        }
        if (!re.test(value)) return `${at(path)}: must match ${desc.pattern}`
      }
      return undefined
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return `${at(path)}: expected a safe integer`
      if (typeof desc.minimum === 'number' && value < desc.minimum) return `${at(path)}: must be at least ${desc.minimum}`
      if (typeof desc.maximum === 'number' && value > desc.maximum) return `${at(path)}: must be at most ${desc.maximum}`
      return undefined
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${at(path)}: expected a boolean`
    case 'null':
      return value === null ? undefined : `${at(path)}: expected null`
    case 'enum':
      return Array.isArray(desc.values) && desc.values.includes(value)
        ? undefined
        : `${at(path)}: must be one of ${(desc.values as string[]).join(', ')}`
    case 'array': {
      if (!Array.isArray(value)) return `${at(path)}: expected an array`
      if (typeof desc.maxItems === 'number' && value.length > desc.maxItems) return `${at(path)}: may have at most ${desc.maxItems} items`
      for (let i = 0; i < value.length; i++) {
        const bad = checkArgs(desc.items, value[i], `${path}[${i}]`)
        if (bad !== undefined) return bad
      }
      return undefined
    }
    case 'object': {
      if (!isObject(value)) return `${at(path)}: expected an object`
      const props = isObject(desc.properties) ? desc.properties : {}
      for (const k of Object.keys(value)) if (!Object.hasOwn(props, k)) return `${at(path)}: unknown property "${k}"`
      for (const [k, sub] of Object.entries(props)) {
        if (!Object.hasOwn(value, k)) {
          if (isObject(sub) && sub.type === 'optional') continue
          return `${at(`${path}.${k}`)}: is required`
        }
        const bad = checkArgs(sub, value[k], `${path}.${k}`)
        if (bad !== undefined) return bad
      }
      return undefined
    }
    case 'record': {
      if (!isObject(value)) return `${at(path)}: expected an object`
      const keys = Object.keys(value)
      if (typeof desc.maxEntries === 'number' && keys.length > desc.maxEntries)
        return `${at(path)}: may have at most ${desc.maxEntries} entries`
      for (const k of keys) {
        const bad = checkArgs(desc.values, value[k], `${path}.${k}`)
        if (bad !== undefined) return bad
      }
      return undefined
    }
    case 'optional':
      return value === undefined ? undefined : checkArgs(desc.inner, value, path)
    default:
      return undefined
  }
}
