/**
 * The GPT-2 byte-to-character table used by byte-level BPE (Hugging Face `ByteLevel` pre-tokenizer and decoder):
 * printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in byte order. Every byte string is
 * then a string of visible characters, so merges never split a UTF-8 sequence's bytes invisibly.
 */
const buildTable = (): Array<string> => {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)
  const table: Array<string> = []
  let next = 0
  for (let b = 0; b < 256; b++) table.push(String.fromCharCode(printable(b) ? b : 256 + next++))
  return table
}

/** byte -> its character in the byte-level alphabet. */
export const byteToChar: ReadonlyArray<string> = buildTable()

const encoder = new TextEncoder()

/** UTF-8 bytes of `text` as byte-level characters. */
export const toByteLevel = (text: string): string => {
  let out = ""
  for (const b of encoder.encode(text)) out += byteToChar[b]
  return out
}
