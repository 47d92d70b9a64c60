/**
 * DeepSeek-V3 / V3.2 special tokens (as in their `tokenizer.json` and `encoding_dsv32.py`), used by the chat
 * template and added to every tokenizer this package trains.
 */
export const specialTokens = {
  bos: "<｜begin▁of▁sentence｜>",
  eos: "<｜end▁of▁sentence｜>",
  pad: "<｜▁pad▁｜>",
  user: "<｜User｜>",
  assistant: "<｜Assistant｜>",
  thinkStart: "<think>",
  thinkEnd: "</think>",
} as const

/** In id order after the byte-level vocabulary and merges of a trained tokenizer. */
export const specialTokenList: ReadonlyArray<string> = Object.values(specialTokens)
