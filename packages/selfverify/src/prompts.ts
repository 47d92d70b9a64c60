/**
 * The four prompts of DeepSeekMath-V2 (docs/selfverify.md §2), written in our own words. They carry DeepSeek's
 * rubric and the exact key phrases of the output formats, because the parsers (parse.ts, docs/selfverify.md §3)
 * and the format reward check those phrases:
 *
 *   verifier       "Here is my evaluation of the solution:" ... "Based on my evaluation, the final overall score
 *                  should be:" \boxed{0 | 0.5 | 1}
 *   meta-verifier  "Here is my analysis of the "solution evaluation":" ... "Based on my analysis, I will rate the
 *                  "solution evaluation" as:" \boxed{0 | 0.5 | 1}
 *   generator      "## Solution" <proof> "## Self Evaluation" + the verifier's format about its own proof
 *   refinement     the generator's prompt + candidate solutions with their evaluations
 *
 * Templates are plain strings with `{problem}`, `{proof}`, `{evaluation}` and `{candidates}` slots; every role
 * takes an optional `PromptTemplates` override, so a user can swap in DeepSeek's released wording or their own.
 */

/** Key phrases the parsers and the format reward look for (docs/selfverify.md §3). */
export const keyPhrases = {
  evaluationStart: "Here is my evaluation of the solution:",
  evaluationScore: "Based on my evaluation, the final overall score should be:",
  metaStart: 'Here is my analysis of the "solution evaluation":',
  metaScore: 'Based on my analysis, I will rate the "solution evaluation" as:',
  solutionHeader: "## Solution",
  selfEvaluationHeader: "## Self Evaluation",
} as const

/** The three-level proof rubric (DeepSeekMath-V2's I_v, docs/selfverify.md §2.1). */
export const proofRubric = `Scoring rubric (use exactly one of 1, 0.5, 0):
- 1: the proof is complete and rigorous. Every step is justified, nothing essential is left out, and the argument
  establishes exactly what the problem asks.
- 0.5: the overall line of argument is sound, but there are minor errors or details that are asserted without the
  justification they need. Fixing them would not change the approach.
- 0: the proof has a fatal error or a serious gap (a false step, a circular argument, an unproved case that carries
  the difficulty), reaches the wrong conclusion, or does not address the problem.
Quoting a result from a paper or a less-known theorem without proving it rules out a score of 1, unless the proof of
that result is included and correct. Well-known textbook theorems may be used freely.`

/** The meta-verification rubric: the four checks and the rating rule (docs/selfverify.md §2.3). */
export const metaRubric = `You judge the evaluation, not the solution. Check four things:
(a) Restatements: where the evaluation describes or quotes a step of the solution, is the description accurate?
(b) Defects (the main check): does every defect the evaluation claims really exist in the solution, and is its
    analysis right (is the step really wrong, and does the error really have the consequence claimed)? Praise of
    the solution is not checked; an evaluation that claims no defect is acceptable on this point.
(c) Expression: typos, miscalculations or misquotes in the evaluation itself; and after an early error, calling
    later conclusions "wrong" when they are only "not rigorously shown".
(d) Score: is the score the evaluation gives consistent with the defects it found and with the proof rubric?
Rating:
- 0: every defect the evaluation claims is invalid.
- 0.5: some claimed defects are valid and some are not; or all are valid (or none is claimed) but there are
  expression or score errors.
- 1: every claimed defect is valid (or none is claimed, correctly), with no expression or score error.`

export interface PromptTemplates {
  /** Slots: {problem}. */
  readonly generator: string
  /** Slots: {problem}, {proof}. */
  readonly verifier: string
  /** Slots: {problem}, {proof}, {evaluation}. */
  readonly metaVerifier: string
  /** Slots: {problem}, {candidates} (each a proof followed by its evaluations). */
  readonly refinement: string
}

const generatorInstructions = `Your task is to solve the problem below with a complete and rigorous proof. If the problem asks
for an answer, finding the answer is not enough: prove that it is correct.

Your solution will be graded with this rubric:
${proofRubric}

You can grade proofs yourself with the same rubric, so work in rounds: write a proof, look for its issues as a
strict grader would, fix them, and repeat until you can make no more progress. Then write your best proof and an
honest evaluation of it. Give your proof a score of 1 only if you could not find any issue in it. A proof with an
unresolved issue that you report honestly is acceptable; claiming that a flawed proof is correct is the worst
possible outcome, and the grader will notice.

In your self-evaluation, go through the key steps and the doubtful ones: explain why each correct step is right,
and for each error, what it breaks.

Write your answer in exactly this format:

${keyPhrases.solutionHeader}
<your proof>

${keyPhrases.selfEvaluationHeader}
${keyPhrases.evaluationStart}
<your step-by-step evaluation of the proof above>

${keyPhrases.evaluationScore} \\boxed{<1, 0.5 or 0>}`

export const defaultTemplates: PromptTemplates = {
  generator: `${generatorInstructions}

## Problem
{problem}`,

  verifier: `You are grading a proof. Read the problem and the proposed solution, then evaluate the solution with
this rubric:
${proofRubric}

Go through the key steps and every doubtful one. For a step that looks suspicious but is actually right, say why it
is right; for an error, say what is wrong and how much of the solution it damages. Then give the score.

Write your answer in exactly this format:

${keyPhrases.evaluationStart}
<your step-by-step evaluation>

${keyPhrases.evaluationScore} \\boxed{<1, 0.5 or 0>}

## Problem
{problem}

## Solution
{proof}`,

  metaVerifier: `You are reviewing how someone graded a proof. The grader was given this rubric for proofs:
${proofRubric}

${metaRubric}

Write your answer in exactly this format:

${keyPhrases.metaStart}
<your analysis of the evaluation, check by check>

${keyPhrases.metaScore} \\boxed{<1, 0.5 or 0>}

## Problem
{problem}

## Solution
{proof}

## Solution Evaluation
{evaluation}`,

  refinement: `${generatorInstructions}

## Problem
{problem}

## Candidate Solutions to Refine
Below are earlier solutions to this problem, each followed by evaluations of it. Write a better solution: fix the
issues the evaluations report (after checking that they are real), and reuse the good ideas. Answer in the format
above.

{candidates}`,
}

/** Replaces `{slot}` with its value; unknown slots are left as written. */
export const renderTemplate = (template: string, slots: Readonly<Record<string, string>>): string =>
  template.replace(/\{(problem|proof|evaluation|candidates)\}/g, (whole, name: string) => slots[name] ?? whole)

const pick = (templates: Partial<PromptTemplates> | undefined): PromptTemplates => ({
  ...defaultTemplates,
  ...templates,
})

export const generatorPrompt = (problem: string, templates?: Partial<PromptTemplates>): string =>
  renderTemplate(pick(templates).generator, { problem })

export const verifierPrompt = (problem: string, proof: string, templates?: Partial<PromptTemplates>): string =>
  renderTemplate(pick(templates).verifier, { problem, proof })

export const metaVerifierPrompt = (
  problem: string,
  proof: string,
  evaluation: string,
  templates?: Partial<PromptTemplates>,
): string => renderTemplate(pick(templates).metaVerifier, { problem, proof, evaluation })

/** A proof to refine and the evaluations shown with it. */
export interface RefinementCandidate {
  readonly proof: string
  readonly evaluations: ReadonlyArray<string>
}

export const formatCandidates = (candidates: ReadonlyArray<RefinementCandidate>): string =>
  candidates
    .map((candidate, i) =>
      [
        `### Candidate Solution ${i + 1}`,
        candidate.proof,
        ...candidate.evaluations.map(
          (evaluation, j) => `#### Evaluation ${j + 1} of Candidate ${i + 1}\n${evaluation}`,
        ),
      ].join("\n\n"),
    )
    .join("\n\n")

export const refinementPrompt = (
  problem: string,
  candidates: ReadonlyArray<RefinementCandidate>,
  templates?: Partial<PromptTemplates>,
): string => renderTemplate(pick(templates).refinement, { problem, candidates: formatCandidates(candidates) })
