/**
 * Search-agent tasks (docs/agentdata.md §5.2). Each unit generates a corpus: entities (cities, people, companies,
 * products) and one page per entity whose text states its attributes and names related entities. Pages sit in an
 * SQLite FTS4 full-text index; the tools are `search` (ranked full-text search with snippets) and `open_page`.
 * Questions are multi-hop chains (product -> maker -> founder -> birthplace, ...). The hardness filter of the paper:
 * keep a question only when the reference answer is verified (the oracle reaches it through the tools) and every
 * candidate answer from weaker solvers (a one-hop reader, a keyword-search guesser) is wrong.
 */
import type { Rng } from "@ds/core"
import { buildImage, type Environment, Episode, type Task, type ToolArgs, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import type { Db } from "../env/sqlite.ts"
import { type TaskRecord, tryOracle, type UnitSpec } from "../pipeline/record.ts"
import type { CategorySynthesizer } from "./unit.ts"

const SYLLABLES = [
  "ka",
  "lo",
  "mi",
  "ren",
  "sa",
  "tor",
  "vel",
  "quin",
  "dra",
  "bel",
  "mon",
  "zu",
  "per",
  "ith",
  "an",
  "os",
]

interface Corpus {
  readonly cities: Array<{ name: string; country: string; river: string }>
  readonly people: Array<{ name: string; born: string; year: number; field: string }>
  readonly companies: Array<{ name: string; founder: string; hq: string; year: number }>
  readonly products: Array<{ name: string; maker: string; year: number; kind: string }>
}

const word = (rng: Rng, used: Set<string>, parts: number) => {
  for (;;) {
    let w = ""
    for (let i = 0; i < parts; i++) w += rng.choice(SYLLABLES)
    w = w[0]?.toUpperCase() + w.slice(1)
    if (!used.has(w)) {
      used.add(w)
      return w
    }
  }
}

const makeCorpus = (rng: Rng): Corpus => {
  const used = new Set<string>()
  const cities = Array.from({ length: 10 }, () => ({
    name: word(rng, used, 3),
    country: `Republic of ${word(rng, used, 2)}`,
    river: `${word(rng, used, 2)} River`,
  }))
  const people = Array.from({ length: 16 }, () => ({
    name: `${word(rng, used, 2)} ${word(rng, used, 3)}`,
    born: rng.choice(cities).name,
    year: rng.int(1900, 1990),
    field: rng.choice(["chemistry", "engineering", "music", "finance", "medicine"]),
  }))
  const companies = Array.from({ length: 14 }, () => ({
    name: `${word(rng, used, 2)} ${rng.choice(["Works", "Labs", "Industries", "Group"])}`,
    founder: rng.choice(people).name,
    hq: rng.choice(cities).name,
    year: rng.int(1920, 2015),
  }))
  const products = Array.from({ length: 18 }, () => ({
    name: `the ${word(rng, used, 2)} ${rng.choice(["X", "Pro", "One", "Mini"])}`,
    maker: rng.choice(companies).name,
    year: rng.int(1950, 2024),
    kind: rng.choice(["camera", "bicycle", "synthesizer", "tractor", "telescope"]),
  }))
  return { cities, people, companies, products }
}

const pages = (c: Corpus): Array<[string, string]> => [
  ...c.cities.map(
    (x) => [x.name, `${x.name} is a city in the ${x.country}, on the banks of the ${x.river}.`] as [string, string],
  ),
  ...c.people.map(
    (x) =>
      [x.name, `${x.name} (born ${x.year}) is known for work in ${x.field}. ${x.name} was born in ${x.born}.`] as [
        string,
        string,
      ],
  ),
  ...c.companies.map(
    (x) =>
      [x.name, `${x.name} is a company founded in ${x.year} by ${x.founder}. Its headquarters are in ${x.hq}.`] as [
        string,
        string,
      ],
  ),
  ...c.products.map(
    (x) =>
      [
        x.name.replace(/^the /, "The "),
        `${x.name.replace(/^the /, "The ")} is a ${x.kind} released in ${x.year}. It is made by ${x.maker}.`,
      ] as [string, string],
  ),
]

interface Question {
  readonly prompt: string
  readonly answer: string
  readonly hops: number
  /** The chain of (page title to open, pattern that extracts the next entity or the answer). */
  readonly chain: ReadonlyArray<{ readonly query: string; readonly pattern: RegExp } | { readonly pattern: RegExp }>
}

const questions = (rng: Rng, c: Corpus): Array<Question> => {
  const out: Array<Question> = []
  const company = (name: string) => c.companies.find((x) => x.name === name)!
  const person = (name: string) => c.people.find((x) => x.name === name)!
  const city = (name: string) => c.cities.find((x) => x.name === name)!
  for (const p of rng.shuffle(c.products)) {
    const maker = company(p.maker)
    const founder = person(maker.founder)
    const born = city(founder.born)
    const title = p.name.replace(/^the /, "The ")
    out.push(
      {
        prompt: `In which city was the founder of the company that makes ${p.name} born?`,
        answer: founder.born,
        hops: 3,
        chain: [
          { query: title, pattern: /made by ([^.]+)\./ },
          { pattern: /founded in \d+ by ([^.]+)\./ },
          { pattern: /was born in ([^.]+)\./ },
        ],
      },
      {
        prompt: `In which year was the company that makes ${p.name} founded?`,
        answer: String(maker.year),
        hops: 2,
        chain: [{ query: title, pattern: /made by ([^.]+)\./ }, { pattern: /founded in (\d+)/ }],
      },
      {
        prompt: `On which river lies the city where the maker of ${p.name} has its headquarters?`,
        answer: city(maker.hq).river,
        hops: 3,
        chain: [
          { query: title, pattern: /made by ([^.]+)\./ },
          { pattern: /headquarters are in ([^.]+)\./ },
          { pattern: /banks of the ([^.]+)\./ },
        ],
      },
      {
        prompt: `In which country was the person who founded the maker of ${p.name} born?`,
        answer: born.country,
        hops: 4,
        chain: [
          { query: title, pattern: /made by ([^.]+)\./ },
          { pattern: /founded in \d+ by ([^.]+)\./ },
          { pattern: /was born in ([^.]+)\./ },
          { pattern: /city in the ([^,]+),/ },
        ],
      },
    )
  }
  return out
}

/** FTS4 ranking: Σ over phrases and columns of hits-in-row / rows-with-hits (matchinfo 'pcx'), titles weighted 3. */
const ranked = new WeakSet<Db>()
const registerRank = (db: Db) => {
  if (ranked.has(db)) return
  ranked.add(db)
  db.fn("rank", ((blob: Uint8Array) => {
    const m = new Uint32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4)
    const phrases = m[0] as number
    const columns = m[1] as number
    let score = 0
    for (let p = 0; p < phrases; p++)
      for (let col = 0; col < columns; col++) {
        const at = 2 + 3 * (p * columns + col)
        const hits = m[at] as number
        const docs = m[at + 2] as number
        if (hits > 0) score += ((col === 0 ? 3 : 1) * hits) / Math.max(1, docs)
      }
    return score
  }) as never)
}

const toFtsQuery = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9 ]/g, " ")
    .split(/\s+/)
    .filter((w) => w.length > 1)
    .map((w) => `"${w}"`)
    .join(" OR ")

const searchTool = {
  name: "search",
  description: "Full-text search over the pages. Returns up to 5 {page_id, title, snippet}, best first.",
  parameters: s.obj({ query: s.str("Keywords") }),
  run: ({ db }: { db: Db }, args: ToolArgs) => {
    const q = toFtsQuery(String(args.query))
    if (q === "") return []
    registerRank(db)
    return db.all(
      "SELECT rowid AS page_id, title, snippet(pages, '[', ']', '…', -1, 12) AS snippet FROM pages WHERE pages MATCH ? " +
        "ORDER BY rank(matchinfo(pages, 'pcx')) DESC, rowid LIMIT 5",
      [q],
    )
  },
}

const normalize = (x: unknown) =>
  String(x ?? "")
    .trim()
    .toLowerCase()

/** Follows a question's chain through the tools: the oracle when exact, a weaker solver when `hops` is cut. */
const follow = (
  call: (name: string, args: Record<string, unknown>) => unknown,
  q: Question,
  hops = q.chain.length,
): string | undefined => {
  let next: string | undefined
  for (const [i, step] of q.chain.slice(0, hops).entries()) {
    const query = "query" in step ? step.query : (next as string)
    const hits = call("search", { query }) as Array<{ page_id: number; title: string }>
    const hit = hits.find((h) => h.title === query) ?? (i === 0 ? undefined : hits[0])
    if (hit === undefined) return undefined
    const page = call("open_page", { page_id: hit.page_id }) as { text: string }
    next = step.pattern.exec(page.text)?.[1]
    if (next === undefined) return undefined
  }
  return next
}

export const search: CategorySynthesizer = {
  category: "search",
  synthesize: (rng, spec: UnitSpec) => {
    const corpus = makeCorpus(rng.fork("corpus"))
    const envId = `search/${spec.seed}/${spec.unit}`
    const image = buildImage("CREATE VIRTUAL TABLE pages USING fts4(title, body);", {
      pages: { columns: ["title", "body"], rows: pages(corpus) },
    })
    const env: Environment = {
      id: envId,
      category: "search",
      domain: "corpus",
      image,
      tools: [
        searchTool,
        {
          name: "open_page",
          description: "The full text of a page.",
          parameters: s.obj({ page_id: s.int("Page id from search", 1) }),
          run: ({ db }, args) => {
            const row = db.get("SELECT title, body AS text FROM pages WHERE rowid = ?", [args.page_id])
            return row ?? { error: `no page ${args.page_id}` }
          },
        },
        {
          name: "submit_answer",
          description: "Submit the final answer (an entity name, place or year).",
          parameters: s.obj({ answer: s.str("The answer") }),
          run: ({ submit }, args) => {
            submit(args.answer)
            return { submitted: true }
          },
        },
      ],
    }
    const records: Array<TaskRecord> = []
    const tasks: Array<Task> = []
    const seen = new Set<string>()
    // The weaker solvers only read, so one probe copy of the corpus serves every question of the unit.
    const probe = new Episode(env)
    const probeCall = (name: string, args: Record<string, unknown>) =>
      JSON.parse(probe.call(name, JSON.stringify(args)).content)
    for (const q of questions(rng.fork("questions"), corpus)) {
      if (records.length >= spec.tasks) break
      if (seen.has(q.prompt)) continue
      seen.add(q.prompt)
      // Hardness filter: weaker solvers (stop one hop short; guess the top keyword hit's title) must all be wrong.
      const candidates = [
        follow(probeCall, q, q.chain.length - 1),
        (probeCall("search", { query: q.prompt }) as Array<{ title: string }>)[0]?.title,
      ]
      if (candidates.some((c) => normalize(c) === normalize(q.answer))) continue
      const task: Task = {
        id: `${envId}/q${tasks.length}`,
        envId,
        category: "search",
        domain: `${q.hops}-hop`,
        level: q.hops - 1,
        system:
          "You answer questions by searching a document collection. Use search and open_page; submit a short answer.",
        prompt: q.prompt,
        solve: (call) => call("submit_answer", { answer: follow(call, q) ?? "unknown" }),
        verify: (answer) =>
          verdict(normalize(answer) === normalize(q.answer) ? [] : [`answer ${JSON.stringify(answer)} is wrong`]),
      }
      const record = tryOracle(env, task, spec)
      if (!record?.metadata.verifier.passed) continue
      tasks.push(task)
      records.push(record)
    }
    probe.close()
    return records.length === spec.tasks ? { env, tasks, records } : undefined
  },
}
