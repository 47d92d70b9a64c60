/**
 * Arithmetic expressions of the proof domain (docs/selfverify.md §6): non-negative integers, `+`, `-`, `*` and
 * parentheses, printed with the fewest parentheses that keep the tree, parsed back with the usual precedence.
 *
 *   reduce(e)  = every expression obtained from e by evaluating ONE operation whose operands are both numbers
 *
 * A proof step `A = B` is a single justified step when B ∈ reduce(A).
 */

export type Op = "+" | "-" | "*"

export type Expr =
  | { readonly kind: "num"; readonly value: number }
  | { readonly kind: "bin"; readonly op: Op; readonly left: Expr; readonly right: Expr }

export const num = (value: number): Expr => ({ kind: "num", value })
export const bin = (op: Op, left: Expr, right: Expr): Expr => ({ kind: "bin", op, left, right })

export const apply = (op: Op, a: number, b: number): number => (op === "+" ? a + b : op === "-" ? a - b : a * b)

export const evaluate = (e: Expr): number =>
  e.kind === "num" ? e.value : apply(e.op, evaluate(e.left), evaluate(e.right))

const precedence = (op: Op): number => (op === "*" ? 2 : 1)

/** Prints with minimal parentheses: `(3 + 4) * 2 - 5`. A right operand of equal precedence keeps its parentheses, so parse(show(e)) is e. */
export const show = (e: Expr): string => {
  if (e.kind === "num") return String(e.value)
  const p = precedence(e.op)
  const left = e.left.kind === "bin" && precedence(e.left.op) < p ? `(${show(e.left)})` : show(e.left)
  const right = e.right.kind === "bin" && precedence(e.right.op) <= p ? `(${show(e.right)})` : show(e.right)
  return `${left} ${e.op} ${right}`
}

/** Parses `show`'s output and any spacing or redundant parentheses of it; null when it is not an expression. */
export const parseExpr = (text: string): Expr | null => {
  const tokens =
    text
      .replace(/[×·]/g, "*")
      .replace(/[−–]/g, "-")
      .match(/\d+|[-+*()]|\S/g) ?? []
  let i = 0
  const peek = () => tokens[i]
  const atom = (): Expr | null => {
    const t = tokens[i++]
    if (t === undefined) return null
    if (/^\d+$/.test(t)) return num(Number(t))
    if (t === "(") {
      const inner = sum()
      if (inner === null || tokens[i++] !== ")") return null
      return inner
    }
    return null
  }
  const product = (): Expr | null => {
    let left = atom()
    while (left !== null && peek() === "*") {
      i++
      const right = atom()
      left = right === null ? null : bin("*", left, right)
    }
    return left
  }
  const sum = (): Expr | null => {
    let left = product()
    while (left !== null && (peek() === "+" || peek() === "-")) {
      const op = tokens[i++] as Op
      const right = product()
      left = right === null ? null : bin(op, left, right)
    }
    return left
  }
  const e = sum()
  return e !== null && i === tokens.length ? e : null
}

export interface Reduction {
  /** The expression after evaluating one operation. */
  readonly result: Expr
  /** The operation evaluated, e.g. `3 + 4`, and its value. */
  readonly left: number
  readonly op: Op
  readonly right: number
  readonly value: number
}

/** Every single-operation reduction of `e` (left to right). */
export const reductions = (e: Expr): Array<Reduction> => {
  if (e.kind === "num") return []
  if (e.left.kind === "num" && e.right.kind === "num") {
    const value = apply(e.op, e.left.value, e.right.value)
    return [{ result: num(value), left: e.left.value, op: e.op, right: e.right.value, value }]
  }
  return [
    ...reductions(e.left).map((r) => ({ ...r, result: bin(e.op, r.result, e.right) })),
    ...reductions(e.right).map((r) => ({ ...r, result: bin(e.op, e.left, r.result) })),
  ]
}

export const sameExpr = (a: Expr, b: Expr): boolean => show(a) === show(b)

/** Number of operations in `e`. */
export const size = (e: Expr): number => (e.kind === "num" ? 0 : 1 + size(e.left) + size(e.right))
