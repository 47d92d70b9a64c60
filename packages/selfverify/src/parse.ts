/**
 * Lenient parsers for what real models write as verifier, meta-verifier and generator (docs/selfverify.md §3).
 *
 *   text     = the part after the last `</think>` (an unclosed `<think>` has no answer: format error)
 *   score    = the last `\boxed{…}` of the scoring region, when it reads as 0, 0.5 or 1; else null
 *   format   = the key phrases are present AND the score is valid            (R_format = 1 iff format_ok)
 *
 * The scoring region is the text after the score phrase ("Based on my evaluation, the final overall score should
 * be:") when it is there, else the whole answer: DeepSeek's inference code reads the last box too. Accepted noise:
 * bold (`**…**`) or `#`-level headers, "overal" (the released template's spelling) and "overall", missing colons,
 * `\boxed{1.0}`, `\boxed{ \frac{1}{2} }`, `\boxed{\text{0.5}}`, `$…$`, `\,` spacing, curly quotes.
 * A box holding something else (`\boxed{0.7}`, `\boxed{\{0,1,3\}}`) gives score null with the reason.
 */

export type Score = 0 | 0.5 | 1

export const scores: ReadonlyArray<Score> = [0, 0.5, 1]

export interface ParseResult {
  /** The last valid score, null when there is none. */
  readonly score: Score | null
  /** R_format: key phrases present and a valid score. */
  readonly format_ok: boolean
  /** Why format_ok is false (null when it is true). */
  readonly error: string | null
}

export interface GenerationParse extends ParseResult {
  /** The self-score of the self-evaluation (same as `score`). */
  readonly self_score: Score | null
  /** The proof: the text between "## Solution" and "## Self Evaluation" (the whole answer if unsplittable). */
  readonly proof: string
  /** The self-evaluation: the text after "## Self Evaluation" ("" when missing). */
  readonly self_evaluation: string
}

export type Role = "verifier" | "meta" | "generator"

/** The answer after the reasoning: text after the last `</think>`, or an error for an unclosed `<think>`. */
export const stripReasoning = (text: string): { readonly answer: string; readonly error: string | null } => {
  const close = text.lastIndexOf("</think>")
  if (close >= 0) return { answer: text.slice(close + "</think>".length), error: null }
  if (text.includes("<think>"))
    return { answer: "", error: "the reasoning was not closed with </think>: there is no answer after it" }
  return { answer: text, error: null }
}

/** Contents of every `\boxed{…}` (balanced braces), in order. `\fbox` is accepted as well. */
export const boxedContents = (text: string): Array<string> => {
  const out: Array<string> = []
  const pattern = /\\(?:boxed|fbox)\s*\{/g
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    let depth = 1
    let i = match.index + match[0].length
    const start = i
    for (; i < text.length && depth > 0; i++) {
      const c = text[i]
      if (c === "\\") i++
      else if (c === "{") depth++
      else if (c === "}") depth--
    }
    if (depth === 0) out.push(text.slice(start, i - 1))
    pattern.lastIndex = i
  }
  return out
}

/** Reads a box's content as a score: "1", "1.0", "0.50", "\frac{1}{2}", "1/2", "\text{0.5}", "$1$". */
export const readScore = (content: string): Score | null => {
  let s = content
  for (let previous = ""; previous !== s; ) {
    previous = s
    s = s.replace(/\\(?:text|textbf|mathbf|mathrm|mbox|bf)\s*\{([^{}]*)\}/g, "$1")
  }
  s = s
    .replace(/\\[,;:!]|\\quad|\\qquad|~|\$|\s+/g, "")
    .replace(/\\[dt]?frac\{1\}\{2\}|\\[dt]?frac12/g, "0.5")
    .replace(/^\{(.*)\}$/, "$1")
  if (s === "1/2") return 0.5
  if (!/^[+]?(?:\d+(?:\.\d*)?|\.\d+)$/.test(s)) return null
  const value = Number(s)
  return value === 0 ? 0 : value === 0.5 ? 0.5 : value === 1 ? 1 : null
}

/** Squeezes formatting so phrase search ignores bold, headers, quotes, spacing and case. */
const squeeze = (text: string): string =>
  text
    .replace(/[*_#`>]/g, "")
    .replace(/[“”„"]/g, '"')
    .replace(/[‘’]/g, "'")
    .replace(/\s+/g, " ")
    .toLowerCase()

const evaluationStartPattern = /here is my evaluation of the solution:?/
const evaluationScorePattern = /based on my evaluation,? the final overall? score should be:?/g
const metaStartPattern = /here is my analysis of the "?solution evaluation"?:?/
const metaScorePattern = /based on my analysis,? i will rate the "?solution evaluation"? as:?/g

/** Index in `text` of the character that starts the last match of `pattern` in squeezed text, or -1. */
const lastPhraseEnd = (text: string, pattern: RegExp): number => {
  // Walk the original text and the squeezed text together: map squeezed offsets back to original offsets.
  const map: Array<number> = []
  let squeezed = ""
  let lastSpace = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (/[*_#`>]/.test(c)) continue
    if (/\s/.test(c)) {
      if (lastSpace) continue
      lastSpace = true
      squeezed += " "
      map.push(i)
      continue
    }
    lastSpace = false
    squeezed += /[“”„]/.test(c) ? '"' : /[‘’]/.test(c) ? "'" : c.toLowerCase()
    map.push(i)
  }
  let end = -1
  pattern.lastIndex = 0
  for (let m = pattern.exec(squeezed); m !== null; m = pattern.exec(squeezed)) {
    const lastChar = m.index + m[0].length - 1
    end = (map[lastChar] ?? text.length - 1) + 1
  }
  return end
}

const scoreOf = (
  answer: string,
  scorePattern: RegExp,
  phraseName: string,
): { readonly score: Score | null; readonly scoreError: string | null; readonly hasScorePhrase: boolean } => {
  const after = lastPhraseEnd(answer, scorePattern)
  const region = after >= 0 ? answer.slice(after) : answer
  const boxes = boxedContents(region)
  const last = boxes[boxes.length - 1]
  if (last === undefined)
    return {
      score: null,
      scoreError: after >= 0 ? `no \\boxed{} score after "${phraseName}"` : "no \\boxed{} score in the answer",
      hasScorePhrase: after >= 0,
    }
  const score = readScore(last)
  return {
    score,
    scoreError: score === null ? `the boxed score "${last.trim()}" is not one of 0, 0.5, 1` : null,
    hasScorePhrase: after >= 0,
  }
}

const parseGraded = (
  text: string,
  startPattern: RegExp,
  scorePattern: RegExp,
  startPhrase: string,
  scorePhrase: string,
): ParseResult => {
  const { answer, error } = stripReasoning(text)
  if (error !== null) return { score: null, format_ok: false, error }
  const { score, scoreError, hasScorePhrase } = scoreOf(answer, scorePattern, scorePhrase)
  const errors: Array<string> = []
  if (scoreError !== null) errors.push(scoreError)
  if (!startPattern.test(squeeze(answer))) errors.push(`missing the phrase "${startPhrase}"`)
  if (!hasScorePhrase) errors.push(`missing the phrase "${scorePhrase}"`)
  return { score, format_ok: errors.length === 0, error: errors.length === 0 ? null : errors.join("; ") }
}

/** A verifier's analysis (or a generator's self-evaluation) -> its score and format. */
export const parseVerification = (text: string): ParseResult =>
  parseGraded(
    text,
    evaluationStartPattern,
    evaluationScorePattern,
    "Here is my evaluation of the solution:",
    "Based on my evaluation, the final overall score should be:",
  )

/** A meta-verifier's analysis -> its quality score ms and format. */
export const parseMetaVerification = (text: string): ParseResult =>
  parseGraded(
    text,
    metaStartPattern,
    metaScorePattern,
    'Here is my analysis of the "solution evaluation":',
    'Based on my analysis, I will rate the "solution evaluation" as:',
  )

/** A header line naming a section, in `#`, bold or plain-colon form: `## Solution`, `**Solution**`, `Solution:`. */
const headerPattern = (name: string): RegExp =>
  new RegExp(
    `^[ \\t]*(?:#{1,6}[ \\t]*\\**[ \\t]*${name}[ \\t]*:?\\**[ \\t]*:?|\\*\\*[ \\t]*${name}[ \\t]*:?[ \\t]*\\*\\*[ \\t]*:?)[ \\t]*$`,
    "gim",
  )

const solutionHeader = headerPattern("solution")
const selfEvaluationHeader = headerPattern("self[- ]?evaluation")

const lastMatch = (pattern: RegExp, text: string): RegExpExecArray | null => {
  let last: RegExpExecArray | null = null
  pattern.lastIndex = 0
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) last = m
  return last
}

const firstMatch = (pattern: RegExp, text: string): RegExpExecArray | null => {
  pattern.lastIndex = 0
  return pattern.exec(text)
}

/** A generator's output -> proof, self-evaluation and self-score. */
export const parseGeneration = (text: string): GenerationParse => {
  const { answer, error } = stripReasoning(text)
  if (error !== null) return { score: null, self_score: null, format_ok: false, error, proof: "", self_evaluation: "" }
  const selfHeader = lastMatch(selfEvaluationHeader, answer)
  if (selfHeader === null) {
    const solution = firstMatch(solutionHeader, answer)
    return {
      score: null,
      self_score: null,
      format_ok: false,
      error: 'missing the "## Self Evaluation" section',
      proof: (solution === null ? answer : answer.slice(solution.index + solution[0].length)).trim(),
      self_evaluation: "",
    }
  }
  const before = answer.slice(0, selfHeader.index)
  const selfEvaluation = answer.slice(selfHeader.index + selfHeader[0].length).trim()
  const solution = firstMatch(solutionHeader, before)
  const proof = (solution === null ? before : before.slice(solution.index + solution[0].length)).trim()
  const graded = parseVerification(selfEvaluation)
  const errors: Array<string> = []
  if (solution === null) errors.push('missing the "## Solution" header')
  if (proof === "") errors.push("the solution section is empty")
  if (graded.error !== null) errors.push(`self evaluation: ${graded.error}`)
  return {
    score: graded.score,
    self_score: graded.score,
    format_ok: errors.length === 0,
    error: errors.length === 0 ? null : errors.join("; "),
    proof,
    self_evaluation: selfEvaluation,
  }
}

/** The parser of a role. */
export const parseAs = (role: Role, text: string): ParseResult | GenerationParse =>
  role === "verifier" ? parseVerification(text) : role === "meta" ? parseMetaVerification(text) : parseGeneration(text)

/** Does the analysis report an issue? (score below 1; DeepSeek's code sends scores <= 0.75 to meta-verification.) */
export const reportsIssues = (score: Score | null): boolean => score !== null && score < 1
