import { isUtf8 } from 'node:buffer'

/**
 * Parses the bytes of a JWS header or payload the one way every JSON parser agrees on, or says why not:
 * well-formed UTF-8 without a byte-order mark, JSON with no lone surrogate escape and no member name twice
 * in one object (raw or `\u`-escaped, at any depth). `JSON.parse` keeps the last duplicate and other
 * parsers the first, so a token that reads differently to a gateway, a logger and this validator is refused
 * (RFC 7519 §4, §7.2; security-testing.md §5).
 *
 * @example
 * parseStrictJson(Buffer.from('{"tid":"a","tid":"b"}')) // { problem: 'has the member name "tid" twice' }
 */
export function parseStrictJson(bytes: Buffer): { value: unknown } | { problem: string } {
  // simdutf behind isUtf8 refuses overlong forms, encoded surrogates and truncated sequences.
  if (!isUtf8(bytes)) return { problem: 'is not valid UTF-8' }
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
    return { problem: 'starts with a UTF-8 BOM' }
  const text = bytes.toString('utf8')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { problem: 'is not JSON' }
  }
  // Only containers hold names. Each object of the text becomes one object of `value` with one key per
  // distinct name, so the text has a duplicate exactly when it holds more names than `value` holds keys.
  if (typeof value === 'object' && value !== null) {
    const names = countNames(text)
    if (names < 0) return { problem: 'holds a lone surrogate escape' }
    if (names !== countKeys(value)) return { problem: scan(text) ?? 'has a member name twice' }
  }
  return { value }
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const COMMA = 0x2c
const COLON = 0x3a

/**
 * The member names in JSON text that `JSON.parse` accepted, or -1 for a lone surrogate escape. The hot path:
 * it jumps from quote to quote with indexOf and walks only the strings that hold a backslash.
 */
function countNames(text: string): number {
  let names = 0
  let backslash = text.indexOf('\\')
  let pos = 0
  for (;;) {
    const open = text.indexOf('"', pos)
    if (open === -1) return names
    let close = text.indexOf('"', open + 1)
    if (backslash !== -1 && backslash < close) {
      let i = open + 1
      for (;;) {
        const c = text.charCodeAt(i)
        if (c === QUOTE) break
        if (c === BACKSLASH) {
          if (text.charCodeAt(i + 1) === 0x75 /* u */) {
            const length = unicodeEscapeLength(text, i)
            if (length === 0) return -1
            i += length
          } else i += 2
        } else i++
      }
      close = i
      backslash = text.indexOf('\\', close + 1)
    }
    let j = close + 1
    let c = text.charCodeAt(j)
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++j)
    if (c === COLON) names++
    pos = j
  }
}

/** The keys of every object in a parsed JSON value, without recursion (nesting depth is the attacker's). */
function countKeys(root: object): number {
  let keys = 0
  const stack: object[] = [root]
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (Array.isArray(node)) {
      for (const v of node) if (typeof v === 'object' && v !== null) stack.push(v)
      continue
    }
    // JSON.parse makes plain objects whose prototype has no enumerable members: for-in sees own names only.
    for (const k in node) {
      keys++
      const v = (node as Record<string, unknown>)[k]
      if (typeof v === 'object' && v !== null) stack.push(v)
    }
  }
  return keys
}

/**
 * The slow path, once a duplicate is known to exist, to name it: one pass over text that `JSON.parse` has
 * accepted. Outside strings only the structural characters matter, so the scan tracks the open containers
 * and, per object, the member names seen.
 */
function scan(text: string): string | undefined {
  // One entry per open container: the names of an object, or null for an array.
  const stack: (Set<string> | null)[] = []
  let expectName = false
  const length = text.length
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      const start = i + 1
      let escaped = false
      i = start
      for (;;) {
        const d = text.charCodeAt(i)
        if (d === QUOTE) break
        if (d === BACKSLASH) {
          escaped = true
          if (text.charCodeAt(i + 1) === 0x75 /* u */) {
            const length = unicodeEscapeLength(text, i)
            if (length === 0) return 'holds a lone surrogate escape'
            i += length
            continue
          }
          i += 2
          continue
        }
        i++
      }
      if (expectName) {
        const raw = text.slice(start, i)
        const name = escaped ? (JSON.parse(`"${raw}"`) as string) : raw
        const names = stack[stack.length - 1] as Set<string>
        if (names.has(name)) return `has the member name ${JSON.stringify(name.slice(0, 40))} twice`
        names.add(name)
        expectName = false
      }
    } else if (c === OPEN_OBJECT) {
      stack.push(new Set())
      expectName = true
    } else if (c === OPEN_ARRAY) {
      stack.push(null)
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop()
      expectName = false
    } else if (c === COMMA) {
      expectName = stack[stack.length - 1] != null
    } else if (c === COLON) {
      expectName = false
    }
  }
  return undefined
}

const isHigh = (u: number) => u >= 0xd800 && u <= 0xdbff
const isLow = (u: number) => u >= 0xdc00 && u <= 0xdfff

/**
 * At `\uXXXX` (i at the backslash): how many characters the escape spans, 12 for a surrogate pair, or 0
 * for a lone surrogate (which decodes to an ill-formed string that TextEncoder turns into U+FFFD).
 */
function unicodeEscapeLength(text: string, i: number): number {
  const unit = Number.parseInt(text.slice(i + 2, i + 6), 16)
  if (isLow(unit)) return 0
  if (!isHigh(unit)) return 6
  const pairs = text.charCodeAt(i + 6) === BACKSLASH && text.charCodeAt(i + 7) === 0x75
  return pairs && isLow(Number.parseInt(text.slice(i + 8, i + 12), 16)) ? 12 : 0
}
