/**
 * Code-interpreter tasks (docs/agentdata.md §5.1): problems that need computation — number theory, counting,
 * logic puzzles, and questions over a data table stored in the environment. The tool is JavaScript run in the
 * QuickJS sandbox. The oracle writes a program (as a model would), runs it through the tool and submits its output;
 * the verifier compares the answer with a reference computed independently on the host at synthesis time.
 */
import type { Rng } from "@ds/core"
import { buildImage, type Environment, type Task, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import { tryOracle, type UnitSpec } from "../pipeline/record.ts"
import type { CategorySynthesizer } from "./unit.ts"

interface Problem {
  readonly family: string
  readonly level: number
  readonly prompt: string
  /** The oracle's program; `table` is the data table's rows when the problem has one. */
  readonly program: (table: ReadonlyArray<Record<string, unknown>>) => string
  readonly answer: number
  readonly table?: ReadonlyArray<readonly [string, number, number]>
}

const primesBelow = (n: number) => {
  const sieve = new Uint8Array(n)
  let sum = 0
  for (let i = 2; i < n; i++) {
    if (sieve[i]) continue
    sum += i
    for (let j = i * i; j < n; j += i) sieve[j] = 1
  }
  return sum
}
const digitSum = (x: number) => [...String(x)].reduce((a, d) => a + Number(d), 0)
const derangements = (n: number) => {
  let a = 1
  let b = 0
  for (let i = 2; i <= n; i++) [a, b] = [b, (i - 1) * (a + b)]
  return n === 0 ? 1 : n === 1 ? 0 : b
}
const noAdjacentOnes = (n: number) => {
  let a = 1
  let b = 1
  for (let i = 0; i < n; i++) [a, b] = [a + b, a]
  return a
}
const fibMod = (n: number, m: number) => {
  let a = 0
  let b = 1
  for (let i = 0; i < n; i++) [a, b] = [b, (a + b) % m]
  return a
}
const collatzLongest = (limit: number) => {
  let best = 1
  let bestLen = 1
  for (let i = 1; i <= limit; i++) {
    let x = i
    let len = 1
    while (x !== 1) {
      x = x % 2 === 0 ? x / 2 : 3 * x + 1
      len++
    }
    if (len > bestLen) {
      best = i
      bestLen = len
    }
  }
  return best
}

const REGIONS = ["north", "south", "east", "west", "central"]

const problems: ReadonlyArray<(rng: Rng) => Problem> = [
  (rng) => {
    const n = rng.int(1, 20) * 500
    return {
      family: "primes",
      level: n > 5000 ? 3 : 2,
      prompt: `What is the sum of all primes below ${n}?`,
      program: () =>
        `const n = ${n}; const s = new Uint8Array(n); let sum = 0;\nfor (let i = 2; i < n; i++) { if (s[i]) continue; sum += i; for (let j = i * i; j < n; j += i) s[j] = 1 }\nsum`,
      answer: primesBelow(n),
    }
  },
  (rng) => {
    const n = rng.int(500, 5000)
    const k = rng.int(3, 12)
    let count = 0
    for (let x = 1; x <= n; x++) if (digitSum(x) % k === 0) count++
    return {
      family: "digit-sums",
      level: 1,
      prompt: `How many integers from 1 to ${n} have a digit sum divisible by ${k}?`,
      program: () =>
        `let c = 0; for (let x = 1; x <= ${n}; x++) { let s = 0, y = x; while (y > 0) { s += y % 10; y = Math.floor(y / 10) } if (s % ${k} === 0) c++ }\nc`,
      answer: count,
    }
  },
  (rng) => {
    const n = rng.int(4, 16)
    return {
      family: "derangements",
      level: 2,
      prompt: `In how many ways can ${n} people each take back a hat so that nobody gets their own hat?`,
      program: () =>
        `let a = 1, b = 0; for (let i = 2; i <= ${n}; i++) { const c = (i - 1) * (a + b); a = b; b = c }\nb`,
      answer: derangements(n),
    }
  },
  (rng) => {
    const n = rng.int(5, 60)
    return {
      family: "binary-strings",
      level: 2,
      prompt: `How many binary strings of length ${n} contain no two adjacent 1s?`,
      program: () => `let a = 1, b = 1; for (let i = 0; i < ${n}; i++) { const c = a + b; b = a; a = c }\na`,
      answer: noAdjacentOnes(n),
    }
  },
  (rng) => {
    const n = rng.int(100, 5000)
    const m = rng.int(2, 10000)
    return {
      family: "fibonacci-mod",
      level: 1,
      prompt: `What is F(${n}) mod ${m}, where F(0) = 0, F(1) = 1 are the Fibonacci numbers?`,
      program: () => `let a = 0, b = 1; for (let i = 0; i < ${n}; i++) { const c = (a + b) % ${m}; a = b; b = c }\na`,
      answer: fibMod(n, m),
    }
  },
  (rng) => {
    const limit = rng.int(50, 1000)
    return {
      family: "collatz",
      level: 3,
      prompt: `Which starting number from 1 to ${limit} gives the longest Collatz sequence (smallest such number on ties)?`,
      program: () =>
        `let best = 1, bestLen = 1;\nfor (let i = 1; i <= ${limit}; i++) { let x = i, len = 1; while (x !== 1) { x = x % 2 === 0 ? x / 2 : 3 * x + 1; len++ } if (len > bestLen) { best = i; bestLen = len } }\nbest`,
      answer: collatzLongest(limit),
    }
  },
  (rng) => {
    const rows: Array<readonly [string, number, number]> = []
    for (let i = rng.int(20, 60); i > 0; i--)
      rows.push([rng.choice(REGIONS), rng.int(1, 13), rng.int(100, 10000)] as const)
    const from = rng.int(1, 7)
    const to = from + rng.int(2, 6)
    const totals = new Map<string, number>()
    for (const [region, month, amount] of rows)
      if (month >= from && month <= to) totals.set(region, (totals.get(region) ?? 0) + amount)
    const best = [...totals.values()].reduce((a, b) => Math.max(a, b), 0)
    return {
      family: "sales-table",
      level: 2,
      prompt: `The table "sales" (region, month, amount) holds this year's sales. Over months ${from}-${to} inclusive, what is the largest total of any single region?`,
      table: rows,
      program: (table) =>
        `const rows = ${JSON.stringify(table)};\nconst t = {}; for (const r of rows) if (r.month >= ${from} && r.month <= ${to}) t[r.region] = (t[r.region] || 0) + r.amount;\nMath.max(0, ...Object.values(t))`,
      answer: best,
    }
  },
]

export const codeInterpreter: CategorySynthesizer = {
  category: "code-interpreter",
  synthesize: (rng, spec: UnitSpec) => {
    const problem = (problems[rng.int(0, problems.length)] as (rng: Rng) => Problem)(rng.fork("problem"))
    const envId = `ci/${spec.seed}/${spec.unit}`
    const image = buildImage("CREATE TABLE sales (region TEXT, month INTEGER, amount INTEGER);", {
      sales: { columns: ["region", "month", "amount"], rows: problem.table ?? [] },
    })
    const env: Environment = {
      id: envId,
      category: "code-interpreter",
      domain: problem.family,
      image,
      tools: [
        {
          name: "run_js",
          description:
            "Run a JavaScript program in a sandbox (1 s, 32 MB). Returns printed output and the value of the last expression.",
          parameters: s.obj({ code: s.str("JavaScript source") }),
          run: ({ sandbox }, args) => {
            const result = sandbox(String(args.code))
            return result.ok
              ? { value: result.value, output: result.output }
              : { error: result.error, output: result.output }
          },
        },
        {
          name: "read_table",
          description: "Rows of a data table as JSON.",
          parameters: s.obj({ name: s.oneOf("Table", ["sales"]) }),
          run: ({ db }) => db.all("SELECT region, month, amount FROM sales ORDER BY rowid"),
        },
        {
          name: "submit_answer",
          description: "Submit the final numeric answer.",
          parameters: s.obj({ answer: s.num("The answer") }),
          run: ({ submit }, args) => {
            submit(args.answer)
            return { submitted: true }
          },
        },
      ],
    }
    const task: Task = {
      id: `${envId}/t0`,
      envId,
      category: "code-interpreter",
      domain: problem.family,
      level: problem.level,
      system:
        "You solve problems that need computation. Write JavaScript and run it with run_js; submit the exact answer.",
      prompt: problem.prompt,
      solve: (call) => {
        const table =
          problem.table === undefined ? [] : (call("read_table", { name: "sales" }) as Array<Record<string, unknown>>)
        const out = call("run_js", { code: problem.program(table) }) as { value?: unknown }
        call("submit_answer", { answer: Number(out.value) })
      },
      verify: (answer) =>
        verdict(
          typeof answer === "number" && answer === problem.answer ? [] : [`answer ${JSON.stringify(answer)} is wrong`],
        ),
    }
    const record = tryOracle(env, task, spec)
    return record?.metadata.verifier.passed ? { env, tasks: [task], records: [record] } : undefined
  },
}
