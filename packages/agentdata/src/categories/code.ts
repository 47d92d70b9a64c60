/**
 * Code-agent tasks (docs/agentdata.md §5.3). Each unit generates a small JavaScript repository — a module of
 * functions drawn from a library, and a test file — then injects one bug (a mutation of one line) and keeps the
 * inverse edit as the gold patch. Acceptance, as in the paper: run the tests in the QuickJS sandbox before and
 * after the gold patch; keep the environment only if at least one test goes from failing to passing and none from
 * passing to failing. The verifier runs the tests on the final state and checks the test file is untouched.
 */
import { buildImage, type Environment, refuse, sha256, type Task, toolLimits, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import { runSandboxed } from "../env/sandbox.ts"
import type { Db } from "../env/sqlite.ts"
import { tryOracle, type UnitSpec } from "../pipeline/record.ts"
import type { CategorySynthesizer } from "./unit.ts"

interface Fn {
  readonly name: string
  readonly source: string
  readonly tests: ReadonlyArray<string>
}

const LIBRARY: ReadonlyArray<Fn> = [
  {
    name: "clamp",
    source: "function clamp(x, lo, hi) {\n  if (x < lo) return lo\n  if (x > hi) return hi\n  return x\n}",
    tests: ["eq(clamp(5, 0, 10), 5)", "eq(clamp(-3, 0, 10), 0)", "eq(clamp(12, 0, 10), 10)"],
  },
  {
    name: "sumTo",
    source: "function sumTo(n) {\n  let total = 0\n  for (let i = 1; i <= n; i++) total += i\n  return total\n}",
    tests: ["eq(sumTo(4), 10)", "eq(sumTo(1), 1)", "eq(sumTo(0), 0)"],
  },
  {
    name: "mean",
    source:
      "function mean(xs) {\n  if (xs.length === 0) return 0\n  let s = 0\n  for (const x of xs) s += x\n  return s / xs.length\n}",
    tests: ["eq(mean([1, 2, 3]), 2)", "eq(mean([]), 0)", "eq(mean([4]), 4)"],
  },
  {
    name: "maxOf",
    source:
      "function maxOf(xs) {\n  let best = xs[0]\n  for (let i = 1; i < xs.length; i++) if (xs[i] > best) best = xs[i]\n  return best\n}",
    tests: ["eq(maxOf([3, 9, 2]), 9)", "eq(maxOf([-5, -2]), -2)", "eq(maxOf([7]), 7)"],
  },
  {
    name: "countVowels",
    source:
      'function countVowels(s) {\n  let n = 0\n  for (const ch of s.toLowerCase()) if ("aeiou".includes(ch)) n++\n  return n\n}',
    tests: ['eq(countVowels("Hello"), 2)', 'eq(countVowels("xyz"), 0)', 'eq(countVowels("AEIOU"), 5)'],
  },
  {
    name: "isPalindrome",
    source:
      "function isPalindrome(s) {\n  for (let i = 0, j = s.length - 1; i < j; i++, j--) if (s[i] !== s[j]) return false\n  return true\n}",
    tests: ['eq(isPalindrome("racecar"), true)', 'eq(isPalindrome("ab"), false)', 'eq(isPalindrome(""), true)'],
  },
  {
    name: "factorial",
    source: "function factorial(n) {\n  let r = 1\n  for (let i = 2; i <= n; i++) r *= i\n  return r\n}",
    tests: ["eq(factorial(5), 120)", "eq(factorial(0), 1)", "eq(factorial(1), 1)"],
  },
  {
    name: "gcd",
    source: "function gcd(a, b) {\n  while (b !== 0) {\n    const t = a % b\n    a = b\n    b = t\n  }\n  return a\n}",
    tests: ["eq(gcd(12, 18), 6)", "eq(gcd(7, 3), 1)", "eq(gcd(10, 0), 10)"],
  },
  {
    name: "range",
    source: "function range(lo, hi) {\n  const out = []\n  for (let i = lo; i < hi; i++) out.push(i)\n  return out\n}",
    tests: ["eq(range(0, 3), [0, 1, 2])", "eq(range(2, 2), [])", "eq(range(-1, 1), [-1, 0])"],
  },
  {
    name: "fizz",
    source:
      'function fizz(n) {\n  if (n % 15 === 0) return "FizzBuzz"\n  if (n % 3 === 0) return "Fizz"\n  if (n % 5 === 0) return "Buzz"\n  return String(n)\n}',
    tests: ['eq(fizz(9), "Fizz")', 'eq(fizz(10), "Buzz")', 'eq(fizz(30), "FizzBuzz")', 'eq(fizz(7), "7")'],
  },
  {
    name: "median",
    source:
      "function median(xs) {\n  const s = [...xs].sort((a, b) => a - b)\n  const m = Math.floor(s.length / 2)\n  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2\n}",
    tests: ["eq(median([3, 1, 2]), 2)", "eq(median([4, 1, 3, 2]), 2.5)", "eq(median([5]), 5)"],
  },
  {
    name: "reverseWords",
    source: 'function reverseWords(s) {\n  return s.split(" ").reverse().join(" ")\n}',
    tests: ['eq(reverseWords("a b c"), "c b a")', 'eq(reverseWords("one"), "one")'],
  },
]

/** Line mutations: [pattern, replacement]; each is a plausible one-token bug. */
const MUTATIONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/ <= /, " < "],
  [/ < /, " <= "],
  [/ > /, " >= "],
  [/ === /, " !== "],
  [/i\+\+/, "i += 2"],
  [/ \+= /, " -= "],
  [/return lo/, "return hi"],
  [/let total = 0/, "let total = 1"],
  [/let r = 1/, "let r = 0"],
  [/\(s\[m - 1\] \+ s\[m\]\) \/ 2/, "s[m]"],
  [/\.reverse\(\)/, ""],
  [/% 15 === 0/, "% 5 === 0"],
  [/toLowerCase\(\)/, "toString()"],
  [/return true/, "return false"],
  [/s \/ xs.length/, "s / (xs.length - 1)"],
]

const HARNESS =
  "const results = []\n" +
  "function eq(a, b) { if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error('expected ' + JSON.stringify(b) + ', got ' + JSON.stringify(a)) }\n" +
  "function test(name, fn) { try { fn(); results.push([name, true, '']) } catch (e) { results.push([name, false, String(e && e.message || e)]) } }\n"

export interface TestRun {
  readonly passed: ReadonlyArray<string>
  readonly failed: ReadonlyArray<{ readonly name: string; readonly error: string }>
  readonly error?: string
}

/** Runs `test/lib.test.js` against `src/lib.js` in the sandbox. */
export const runTests = (lib: string, tests: string): TestRun => {
  const code = `${HARNESS}const lib = (function () {\n${lib}\nreturn { ${LIBRARY.map((f) => `${f.name}: typeof ${f.name} === "function" ? ${f.name} : undefined`).join(", ")} }\n})()\n${tests}\nresults`
  const result = runSandboxed(code, toolLimits)
  if (!result.ok) return { passed: [], failed: [], error: result.error }
  const rows = result.value as Array<[string, boolean, string]>
  return {
    passed: rows.filter((r) => r[1]).map((r) => r[0]),
    failed: rows.filter((r) => !r[1]).map((r) => ({ name: r[0], error: r[2] })),
  }
}

const file = (db: Db, path: string) =>
  db.get("SELECT content FROM files WHERE path = ?", [path])?.content as string | undefined

export const code: CategorySynthesizer = {
  category: "code",
  synthesize: (rng, spec: UnitSpec) => {
    const fns = rng.shuffle(LIBRARY).slice(0, rng.int(3, 6))
    const lib = fns.map((f) => f.source).join("\n\n")
    const tests = fns
      .flatMap((f) => f.tests.map((t, i) => `test("${f.name} #${i + 1}", () => { const { ${f.name} } = lib; ${t} })`))
      .join("\n")
    // Inject one bug: a mutation applicable to some line of one function.
    const target = rng.choice(fns)
    const lines = target.source.split("\n")
    const options = lines.flatMap((line, i) =>
      MUTATIONS.filter(([pattern]) => pattern.test(line)).map(([pattern, replacement]) => ({
        i,
        line,
        buggy: line.replace(pattern, replacement),
      })),
    )
    if (options.length === 0) return undefined
    const mutation = rng.choice(options)
    const buggyLib = lib.replace(mutation.line, mutation.buggy)
    if (buggyLib === lib) return undefined
    // The failing tests before the patch name the task; acceptance is checked on the oracle's own test run below.
    const before = runTests(buggyLib, tests)
    if (before.error !== undefined || before.failed.length === 0) return undefined
    const failToPass = before.failed.map((f) => f.name)
    const envId = `code/${spec.seed}/${spec.unit}`
    const testsHash = sha256(tests)
    const readme = `# ${target.name} utilities\n\nSmall helpers. Run the tests with run_tests.\n`
    const image = buildImage("CREATE TABLE files (path TEXT PRIMARY KEY, content TEXT);", {
      files: {
        columns: ["path", "content"],
        rows: [
          ["README.md", readme],
          ["src/lib.js", buggyLib],
          ["test/lib.test.js", tests],
        ],
      },
    })
    const env: Environment = {
      id: envId,
      category: "code",
      domain: target.name,
      image,
      tools: [
        {
          name: "list_files",
          description: "Paths in the repository.",
          parameters: s.obj({}),
          run: ({ db }) => db.all("SELECT path FROM files ORDER BY path").map((r) => r.path),
        },
        {
          name: "read_file",
          description: "Contents of a file.",
          parameters: s.obj({ path: s.str("Path") }),
          run: ({ db }, args) => ({ content: file(db, args.path) ?? refuse(`no file ${args.path}`) }),
        },
        {
          name: "search_code",
          description: "Lines containing a string, with file and line number.",
          parameters: s.obj({ text: s.str("Text to find") }),
          run: ({ db }, args) =>
            db.all("SELECT path, content FROM files ORDER BY path").flatMap((f) =>
              String(f.content)
                .split("\n")
                .flatMap((line, i) => (line.includes(args.text) ? [{ path: f.path, line: i + 1, text: line }] : [])),
            ),
        },
        {
          name: "replace_in_file",
          description: "Replace the single occurrence of `old` with `new` in a file.",
          parameters: s.obj({ path: s.str("Path"), old: s.str("Exact text to replace"), new: s.str("Replacement") }),
          run: ({ db }, args) => {
            const content = file(db, args.path) ?? refuse(`no file ${args.path}`)
            const count = content.split(args.old).length - 1
            if (count !== 1) refuse(`expected exactly one occurrence of the old text, found ${count}`)
            db.run("UPDATE files SET content = ? WHERE path = ?", [
              content.replace(args.old, () => args.new),
              args.path,
            ])
            return { replaced: true }
          },
        },
        {
          name: "write_file",
          description: "Create or overwrite a file.",
          parameters: s.obj({ path: s.str("Path"), content: s.str("Full contents") }),
          run: ({ db }, args) => {
            db.run("INSERT OR REPLACE INTO files (path, content) VALUES (?, ?)", [args.path, args.content])
            return { written: args.path }
          },
        },
        {
          name: "run_tests",
          description: "Run test/lib.test.js against src/lib.js in the sandbox.",
          parameters: s.obj({}),
          run: ({ db }) => runTests(file(db, "src/lib.js") ?? "", file(db, "test/lib.test.js") ?? ""),
        },
        {
          name: "submit",
          description: "Finish: describe the fix.",
          parameters: s.obj({ summary: s.str("What was wrong and what you changed") }),
          run: ({ submit }, args) => {
            submit(args.summary)
            return { submitted: true }
          },
        },
      ],
    }
    const task: Task = {
      id: `${envId}/fix`,
      envId,
      category: "code",
      domain: target.name,
      level: Math.min(3, fns.length - 2),
      system:
        "You are a software engineer. Fix the bug in the repository so that every test passes; do not edit the tests.",
      prompt: `Tests are failing: ${failToPass.join(", ")}. Find the bug in src/lib.js and fix it.`,
      solve: (call) => {
        call("read_file", { path: "src/lib.js" })
        call("replace_in_file", { path: "src/lib.js", old: mutation.buggy, new: mutation.line })
        call("run_tests", {})
        call("submit", { summary: `${target.name}: restored \`${mutation.line.trim()}\`` })
      },
      verify: (_answer, state) => {
        const failures: Array<string> = []
        const t = file(state, "test/lib.test.js") ?? ""
        if (sha256(t) !== testsHash) failures.push("the test file was modified")
        const run = runTests(file(state, "src/lib.js") ?? "", t)
        if (run.error !== undefined) failures.push(`tests crashed: ${run.error}`)
        for (const f of run.failed) failures.push(`${f.name} fails: ${f.error}`)
        for (const name of failToPass) if (!run.passed.includes(name)) failures.push(`${name} still fails`)
        return verdict(failures)
      },
    }
    const record = tryOracle(env, task, spec)
    if (record === undefined || !record.metadata.verifier.passed) return undefined
    // Acceptance (the paper's rule): with the gold patch, >= 1 test goes fail -> pass and none pass -> fail.
    const runs = record.messages.flatMap((m) =>
      m.role === "tool" && m.content.startsWith('{"passed"') ? [JSON.parse(m.content) as TestRun] : [],
    )
    const after = runs[runs.length - 1]
    if (after === undefined || after.error !== undefined) return undefined
    const fixed = before.failed.filter((f) => after.passed.includes(f.name))
    const broken = before.passed.filter((name) => !after.passed.includes(name))
    return fixed.length > 0 && broken.length === 0 ? { env, tasks: [task], records: [record] } : undefined
  },
}
