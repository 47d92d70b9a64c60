/**
 * A proof domain with an exact oracle (docs/selfverify.md §6). A problem asks to prove `E = V` for a small
 * arithmetic expression E; a proof is a chain of steps, each evaluating one operation with its justification:
 *
 *   Step 1: (3 + 4) * 2 - 5 = 7 * 2 - 5, because 3 + 4 = 7.
 *   Step 2: 7 * 2 - 5 = 14 - 5, because 7 * 2 = 14.
 *   Step 3: 14 - 5 = 9, because 14 - 5 = 9.
 *   Therefore (3 + 4) * 2 - 5 = 9.
 *
 * The oracle grades with DeepSeekMath-V2's rubric made exact:
 *   0    a false step (values differ, or a false justification), a broken chain, no number reached, a wrong or
 *        missing conclusion                                                             (fatal)
 *   0.5  every step true, but one evaluates several operations at once (skipped step) or its justification is
 *        missing or does not name the operation it evaluates (unjustified claim)          (minor)
 *   1    every step evaluates one operation, is justified and true, and the conclusion is the statement.
 * and writes the reference analysis in the verifier's format, naming the faulty step. Flawed proofs come from
 * mutations of correct ones: wrong step, skipped step, wrong conclusion, unjustified claim.
 */
import type { Rng } from "@ds/core"
import type { Score } from "../parse.ts"
import { keyPhrases } from "../prompts.ts"
import { apply, bin, type Expr, evaluate, num, type Op, parseExpr, reductions, sameExpr, show } from "./expression.ts"

export interface DomainProblem {
  readonly id: string
  readonly expression: Expr
  readonly target: number
  /** "Prove that (3 + 4) * 2 - 5 = 9." */
  readonly statement: string
}

export interface Justification {
  readonly left: number
  readonly op: Op
  readonly right: number
  readonly value: number
}

export interface DomainStep {
  readonly from: Expr
  readonly to: Expr
  readonly because: Justification | null
}

export interface DomainProof {
  readonly steps: ReadonlyArray<DomainStep>
  /** The value the conclusion states. */
  readonly concluded: number
}

export type MutationKind = "wrong-step" | "skipped-step" | "wrong-conclusion" | "unjustified-claim"

export const mutationKinds: ReadonlyArray<MutationKind> = [
  "wrong-step",
  "skipped-step",
  "wrong-conclusion",
  "unjustified-claim",
]

export interface Finding {
  /** 1-based step number, or "conclusion". */
  readonly step: number | "conclusion"
  readonly kind:
    | "false-step"
    | "broken-chain"
    | "incomplete"
    | "wrong-conclusion"
    | "unparsable"
    | "skipped-step"
    | "unjustified"
  readonly fatal: boolean
  readonly message: string
}

export interface OracleVerdict {
  readonly score: Score
  readonly findings: ReadonlyArray<Finding>
}

export interface ProblemOptions {
  /** Operations per expression, inclusive range. Default [2, 4]. */
  readonly minOps?: number
  readonly maxOps?: number
  /** Largest leaf number. Default 9. */
  readonly maxLeaf?: number
  /** Largest value any sub-expression may take (keeps numbers short for a small model). Default 99. */
  readonly maxValue?: number
  /** Only expressions this accepts (a train / held-out split, docs/selfverify.md §10). Default: all. */
  readonly accept?: (expression: Expr) => boolean
}

const ops: ReadonlyArray<Op> = ["+", "-", "*"]

const randomExpr = (rng: Rng, nOps: number, maxLeaf: number): Expr => {
  if (nOps === 0) return num(rng.int(1, maxLeaf + 1))
  const leftOps = rng.int(0, nOps)
  return bin(
    ops[rng.int(0, ops.length)]!,
    randomExpr(rng, leftOps, maxLeaf),
    randomExpr(rng, nOps - 1 - leftOps, maxLeaf),
  )
}

const valuesInRange = (e: Expr, maxValue: number): boolean => {
  const v = evaluate(e)
  if (v < 0 || v > maxValue) return false
  return e.kind === "num" || (valuesInRange(e.left, maxValue) && valuesInRange(e.right, maxValue))
}

/** A random problem; every sub-expression's value lies in [0, maxValue]. Deterministic in `rng`. */
export const makeProblem = (rng: Rng, id: string, options: ProblemOptions = {}): DomainProblem => {
  const minOps = options.minOps ?? 2
  const maxOps = options.maxOps ?? 4
  for (;;) {
    const expression = randomExpr(rng, rng.int(minOps, maxOps + 1), options.maxLeaf ?? 9)
    if (!valuesInRange(expression, options.maxValue ?? 99)) continue
    if (options.accept !== undefined && !options.accept(expression)) continue
    const target = evaluate(expression)
    return { id, expression, target, statement: `Prove that ${show(expression)} = ${target}.` }
  }
}

export const makeProblems = (rng: Rng, n: number, options: ProblemOptions = {}): Array<DomainProblem> =>
  Array.from({ length: n }, (_, i) => makeProblem(rng.fork(i), `arith-${i}`, options))

/** The correct proof: evaluate the leftmost innermost operation, one per step. */
export const correctProof = (problem: DomainProblem): DomainProof => {
  const steps: Array<DomainStep> = []
  let e = problem.expression
  for (let r = reductions(e)[0]; r !== undefined; r = reductions(e)[0]) {
    steps.push({ from: e, to: r.result, because: { left: r.left, op: r.op, right: r.right, value: r.value } })
    e = r.result
  }
  return { steps, concluded: problem.target }
}

const showJustification = (j: Justification): string => `${j.left} ${j.op} ${j.right} = ${j.value}`

export const renderProof = (problem: DomainProblem, proof: DomainProof): string =>
  [
    ...proof.steps.map(
      (s, i) =>
        `Step ${i + 1}: ${show(s.from)} = ${show(s.to)}${s.because === null ? "" : `, because ${showJustification(s.because)}`}.`,
    ),
    `Therefore ${show(problem.expression)} = ${proof.concluded}.`,
  ].join("\n")

/** Replaces the value of the first reducible operation of `e` by `value` (a wrong evaluation). */
const reduceWrongly = (e: Expr, value: number): Expr => {
  if (e.kind === "num") return e
  if (e.left.kind === "num" && e.right.kind === "num") return num(value)
  return reductions(e.left).length > 0
    ? bin(e.op, reduceWrongly(e.left, value), e.right)
    : bin(e.op, e.left, reduceWrongly(e.right, value))
}

/** A flawed proof of `problem` of the given kind, or null when the proof is too short for it. */
export const mutateProof = (problem: DomainProblem, kind: MutationKind, rng: Rng): DomainProof | null => {
  const proof = correctProof(problem)
  const steps = proof.steps
  if (steps.length === 0) return null
  switch (kind) {
    case "wrong-step": {
      const i = rng.int(0, steps.length)
      const step = steps[i]!
      const r = reductions(step.from)[0]!
      const wrong = r.value + rng.int(1, 3)
      const out: Array<DomainStep> = steps.slice(0, i)
      out.push({ from: step.from, to: reduceWrongly(step.from, wrong), because: { ...step.because!, value: wrong } })
      let e = out[out.length - 1]!.to
      for (let next = reductions(e)[0]; next !== undefined; next = reductions(e)[0]) {
        out.push({
          from: e,
          to: next.result,
          because: { left: next.left, op: next.op, right: next.right, value: next.value },
        })
        e = next.result
      }
      return { steps: out, concluded: proof.concluded }
    }
    case "skipped-step": {
      if (steps.length < 2) return null
      const i = rng.int(0, steps.length - 1)
      const merged: DomainStep = { from: steps[i]!.from, to: steps[i + 1]!.to, because: steps[i]!.because }
      return { steps: [...steps.slice(0, i), merged, ...steps.slice(i + 2)], concluded: proof.concluded }
    }
    case "wrong-conclusion":
      return { steps, concluded: proof.concluded + rng.int(1, 4) }
    case "unjustified-claim": {
      const i = rng.int(0, steps.length)
      return { steps: steps.map((s, j) => (j === i ? { ...s, because: null } : s)), concluded: proof.concluded }
    }
  }
}

interface ParsedStep {
  readonly n: number
  readonly from: Expr | null
  readonly to: Expr | null
  readonly because: string | null
  readonly text: string
}

const stepLine = /^\s*\**\s*step\s+(\d+)\s*\**\s*[:.)]\s*(.*)$/i
const conclusionLine = /^\s*(?:therefore|thus|hence|so)[,:]?\s+(.*?)\s*=\s*(-?\d+)\s*\.?\s*$/i

const parseSteps = (
  text: string,
): { steps: Array<ParsedStep>; conclusion: { expr: Expr | null; value: number } | null } => {
  const steps: Array<ParsedStep> = []
  let conclusion: { expr: Expr | null; value: number } | null = null
  for (const line of text.split("\n")) {
    const step = stepLine.exec(line)
    if (step !== null) {
      const body = step[2]!.replace(/\.\s*$/, "")
      const [claim, ...reason] = body.split(/,?\s*because\s+/i)
      const sides = (claim ?? "").split("=")
      steps.push({
        n: Number(step[1]),
        from: sides.length === 2 ? parseExpr(sides[0]!) : null,
        to: sides.length === 2 ? parseExpr(sides[1]!) : null,
        because: reason.length === 0 ? null : reason.join(" because ").trim(),
        text: body.trim(),
      })
      continue
    }
    const c = conclusionLine.exec(line)
    if (c !== null) conclusion = { expr: parseExpr(c[1]!), value: Number(c[2]) }
  }
  return { steps, conclusion }
}

const parseJustification = (text: string): Justification | null => {
  const m = /^\s*(\d+)\s*([-+*×−])\s*(\d+)\s*=\s*(-?\d+)\s*\.?\s*$/.exec(text)
  if (m === null) return null
  const op = (m[2] === "×" ? "*" : m[2] === "−" ? "-" : m[2]) as Op
  return { left: Number(m[1]), op, right: Number(m[3]), value: Number(m[4]) }
}

/** The exact grade of a proof text for `problem`, with every finding (fatal first, in step order). */
export const gradeProof = (problem: DomainProblem, proofText: string): OracleVerdict => {
  const { steps, conclusion } = parseSteps(proofText)
  const findings: Array<Finding> = []
  const fatal = (step: Finding["step"], kind: Finding["kind"], message: string) =>
    findings.push({ step, kind, fatal: true, message })
  const minor = (step: Finding["step"], kind: Finding["kind"], message: string) =>
    findings.push({ step, kind, fatal: false, message })
  if (steps.length === 0)
    fatal("conclusion", "incomplete", "The solution has no derivation steps, so nothing is proved.")
  let previous: Expr = problem.expression
  steps.forEach((s, i) => {
    const k = i + 1
    if (s.from === null || s.to === null) {
      fatal(k, "unparsable", `Step ${k} ("${s.text}") is not a single equation between two expressions.`)
      return
    }
    if (!sameExpr(s.from, previous))
      fatal(
        k,
        "broken-chain",
        k === 1
          ? `Step 1 starts from ${show(s.from)}, not from the expression of the problem, ${show(previous)}.`
          : `Step ${k} starts from ${show(s.from)}, but Step ${k - 1} ended with ${show(previous)}.`,
      )
    previous = s.to
    const a = evaluate(s.from)
    const b = evaluate(s.to)
    if (a !== b) {
      fatal(
        k,
        "false-step",
        `Step ${k} claims ${show(s.from)} = ${show(s.to)}, but the left side is ${a} and the right side is ${b}: the step is false.`,
      )
      return
    }
    const justification = s.because === null ? null : parseJustification(s.because)
    if (
      justification !== null &&
      apply(justification.op, justification.left, justification.right) !== justification.value
    ) {
      fatal(k, "false-step", `Step ${k} is justified by ${showJustification(justification)}, which is false.`)
      return
    }
    const single = reductions(s.from).find((r) => sameExpr(r.result, s.to!))
    if (single === undefined) {
      minor(
        k,
        "skipped-step",
        `Step ${k} goes from ${show(s.from)} to ${show(s.to)} in one step, evaluating several operations at once; the intermediate step is skipped.`,
      )
      return
    }
    if (
      justification === null ||
      justification.left !== single.left ||
      justification.op !== single.op ||
      justification.right !== single.right
    )
      minor(
        k,
        "unjustified",
        `Step ${k} evaluates ${single.left} ${single.op} ${single.right} without saying so: the claim is not justified.`,
      )
  })
  if (steps.length > 0 && previous.kind !== "num")
    fatal(steps.length, "incomplete", `The derivation stops at ${show(previous)} without reaching a number.`)
  if (conclusion === null) fatal("conclusion", "incomplete", "The solution does not state its conclusion.")
  else if (conclusion.expr === null || !sameExpr(conclusion.expr, problem.expression))
    fatal("conclusion", "wrong-conclusion", "The conclusion is not about the expression of the problem.")
  else if (conclusion.value !== problem.target)
    fatal(
      "conclusion",
      "wrong-conclusion",
      `The conclusion states ${show(problem.expression)} = ${conclusion.value}, but the value is ${problem.target}.`,
    )
  else if (previous.kind === "num" && previous.value !== conclusion.value)
    fatal(
      "conclusion",
      "wrong-conclusion",
      `The derivation ends with ${previous.value}, but the conclusion states ${conclusion.value}: it does not follow from the steps.`,
    )
  findings.sort((x, y) => Number(y.fatal) - Number(x.fatal))
  const score: Score = findings.some((f) => f.fatal) ? 0 : findings.length > 0 ? 0.5 : 1
  return { score, findings }
}

/** The reference analysis in the verifier's format, naming the faulty steps. */
export const referenceAnalysis = (verdict: OracleVerdict): string =>
  [
    keyPhrases.evaluationStart,
    ...(verdict.findings.length === 0
      ? ["Every step evaluates one operation correctly and says which; the conclusion is the statement."]
      : verdict.findings.map((f) => f.message)),
    "",
    `${keyPhrases.evaluationScore} \\boxed{${verdict.score}}`,
  ].join("\n")

/** The generator's reference output for a proof: the proof, then its honest self-evaluation. */
export const referenceGeneration = (problem: DomainProblem, proof: DomainProof): string => {
  const text = renderProof(problem, proof)
  return `${keyPhrases.solutionHeader}\n${text}\n\n${keyPhrases.selfEvaluationHeader}\n${referenceAnalysis(gradeProof(problem, text))}`
}

const issueWords = /false|wrong|incorrect|error|skip|unjustified|not justified|without|\bnot\b|stops|\bbut\b/i

/** Steps (and the conclusion) an analysis says are faulty: sentences that name a step and an issue word. */
export const claimedDefects = (analysis: string): Set<number | "conclusion"> => {
  const out = new Set<number | "conclusion">()
  for (const sentence of analysis.split(/(?<=[.!?])\s+|\n/)) {
    if (!issueWords.test(sentence)) continue
    for (const m of sentence.matchAll(/step\s+(\d+)/gi)) out.add(Number(m[1]))
    if (/conclusion/i.test(sentence)) out.add("conclusion")
  }
  return out
}

export interface MetaVerdict {
  readonly score: Score
  readonly valid: ReadonlyArray<number | "conclusion">
  readonly invalid: ReadonlyArray<number | "conclusion">
  readonly scoreConsistent: boolean
}

/**
 * The exact meta-verification of an analysis (the meta rubric of docs/selfverify.md §2.3 made exact): claimed
 * defects are valid when the oracle finds an issue at that place; all invalid -> 0, mixed -> 0.5, all valid (or
 * none claimed) -> 1 unless the analysis's score differs from the oracle's -> 0.5.
 */
export const gradeAnalysis = (
  problem: DomainProblem,
  proofText: string,
  analysisScore: Score | null,
  analysisText: string,
): MetaVerdict => {
  const verdict = gradeProof(problem, proofText)
  const faulty = new Set(verdict.findings.map((f) => f.step))
  const claimed = [...claimedDefects(analysisText)]
  const valid = claimed.filter((c) => faulty.has(c))
  const invalid = claimed.filter((c) => !faulty.has(c))
  const scoreConsistent = analysisScore === verdict.score
  const score: Score =
    claimed.length > 0 && valid.length === 0
      ? 0
      : invalid.length > 0
        ? 0.5
        : scoreConsistent
          ? 1
          : analysisScore === null
            ? 0
            : 0.5
  return { score, valid, invalid, scoreConsistent }
}

/** The reference meta-analysis in the meta-verifier's format. */
export const referenceMetaAnalysis = (meta: MetaVerdict, oracleScore: Score): string => {
  const name = (c: number | "conclusion") => (c === "conclusion" ? "the conclusion" : `Step ${c}`)
  return [
    keyPhrases.metaStart,
    ...meta.valid.map((c) => `The defect claimed in ${name(c)} is real.`),
    ...meta.invalid.map((c) => `The defect claimed in ${name(c)} does not exist: that part is correct.`),
    meta.valid.length + meta.invalid.length === 0 ? "The evaluation claims no defect." : "",
    meta.scoreConsistent
      ? "The score is consistent with the defects."
      : `The score is not consistent with the defects: it should be ${oracleScore}.`,
    "",
    `${keyPhrases.metaScore} \\boxed{${meta.score}}`,
  ]
    .filter((line, i, all) => line !== "" || i === all.length - 2)
    .join("\n")
}
