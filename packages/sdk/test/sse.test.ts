import { type SSEMessage, SSEParser } from '@trellis/sdk'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const enc = new TextEncoder()

function parseAll(chunks: ReadonlyArray<Uint8Array | string>): { messages: SSEMessage[]; parser: SSEParser } {
  const parser = new SSEParser()
  const messages: SSEMessage[] = []
  for (const c of chunks) messages.push(...parser.push(c))
  parser.end()
  return { messages, parser }
}

function splitBytes(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of points) {
    out.push(bytes.slice(prev, p))
    prev = p
  }
  out.push(bytes.slice(prev))
  return out
}

// A stream exercising every rule at once: CRLF, lone CR, LF, comments, multi-line data, ids,
// retry, a multi-byte character (split across chunks by the tests below) and an unknown field.
const STREAM =
  '\uFEFF: hello\r\n' +
  'retry: 1500\r\n\r\n' +
  'event: block\r\nid: 1\r\ndata: {"height":1}\r\n\r\n' +
  'event: event\nid: 1-0-0\ndata: line one\ndata: line two — 证据\n\n' +
  ':keep-alive\r\r' +
  'data\rdata:no-space\rfoo: bar\r\r' +
  'id: 2\n: comment between fields\nevent: block\ndata: {"height":2}\n\n' +
  'data: last-without-blank-line\n'

const EXPECTED: SSEMessage[] = [
  { event: 'block', data: '{"height":1}', id: '1' },
  { event: 'event', data: 'line one\nline two — 证据', id: '1-0-0' },
  { event: 'message', data: '\nno-space', id: '1-0-0' },
  { event: 'block', data: '{"height":2}', id: '2' },
]

describe('SSEParser', () => {
  it('parses a whole stream in one chunk', () => {
    const { messages, parser } = parseAll([STREAM])
    expect(messages).toEqual(EXPECTED)
    expect(parser.retryMs).toBe(1500)
    expect(parser.lastEventId).toBe('2')
  })

  it('gives the same messages whatever the chunk boundaries (every two-way split of the bytes)', () => {
    const bytes = enc.encode(STREAM)
    for (let i = 0; i <= bytes.length; i++) {
      expect(parseAll([bytes.slice(0, i), bytes.slice(i)]).messages).toEqual(EXPECTED)
    }
  })

  it('gives the same messages when fed one byte at a time, or one character at a time', () => {
    const bytes = enc.encode(STREAM)
    expect(parseAll(Array.from(bytes, (b) => Uint8Array.of(b))).messages).toEqual(EXPECTED)
    expect(parseAll(Array.from(STREAM)).messages).toEqual(EXPECTED)
  })

  it('gives the same messages for random chunkings', () => {
    const bytes = enc.encode(STREAM)
    fc.assert(
      fc.property(fc.array(fc.nat(bytes.length), { maxLength: 40 }), (cuts) => {
        expect(parseAll(splitBytes(bytes, cuts)).messages).toEqual(EXPECTED)
      }),
    )
  })

  it('treats a CR at the end of one chunk and an LF at the start of the next as one line end', () => {
    // Were the CRLF split counted twice, the blank line would dispatch "a" and "b" separately.
    const { messages } = parseAll(['data: a\r', '\ndata: b\r', '\n\r', '\n'])
    expect(messages).toEqual([{ event: 'message', data: 'a\nb', id: '' }])
  })

  it('does not dispatch an event that has no data, and resets its type', () => {
    const { messages } = parseAll(['event: block\nid: 7\n\ndata: x\n\n'])
    expect(messages).toEqual([{ event: 'message', data: 'x', id: '7' }])
  })

  it('dispatches an empty data field as an empty string', () => {
    expect(parseAll(['data:\n\n']).messages).toEqual([{ event: 'message', data: '', id: '' }])
    expect(parseAll(['data\n\n']).messages).toEqual([{ event: 'message', data: '', id: '' }])
  })

  it('keeps the id across messages, resets it with an empty id, and ignores ids containing NUL', () => {
    const { messages } = parseAll(['id: a\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\nid: b\0c\ndata: 4\n\n'])
    expect(messages.map((m) => m.id)).toEqual(['a', 'a', '', ''])
  })

  it('keeps only one leading space of a value, and only a leading BOM is stripped', () => {
    const { messages } = parseAll(['\uFEFFdata:  two spaces\n\n', 'data: \uFEFFinner\n\n'])
    expect(messages.map((m) => m.data)).toEqual([' two spaces', '\uFEFFinner'])
  })

  it('ignores retry values that are not all digits', () => {
    const parser = new SSEParser()
    parser.push('retry: 10x\n\nretry: -5\n\nretry:\n\n')
    expect(parser.retryMs).toBeUndefined()
    parser.push('retry: 250\n\n')
    expect(parser.retryMs).toBe(250)
  })

  it('discards an unterminated event at the end of the stream and starts afresh', () => {
    const parser = new SSEParser()
    expect(parser.push('event: block\ndata: partial\n')).toEqual([])
    parser.end()
    expect(parser.push('data: next\n\n')).toEqual([{ event: 'message', data: 'next', id: '' }])
  })

  it('decodes a multi-byte character split across chunks', () => {
    const bytes = enc.encode('data: 证\n\n')
    const cut = bytes.indexOf(0xe8) + 1
    expect(parseAll([bytes.slice(0, cut), bytes.slice(cut)]).messages).toEqual([{ event: 'message', data: '证', id: '' }])
  })

  it('handles long lines arriving in many chunks', () => {
    const long = 'x'.repeat(100_000)
    const text = `data: ${long}\n\n`
    const chunks: string[] = []
    for (let i = 0; i < text.length; i += 1000) chunks.push(text.slice(i, i + 1000))
    expect(parseAll(chunks).messages).toEqual([{ event: 'message', data: long, id: '' }])
  })
})
