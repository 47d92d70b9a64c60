/**
 * The repository stands alone (docs/README.md §2): no tracked file may point at material outside it, and every
 * `docs/<page>.md §N` citation must name a page that exists and a section number that page has (`## N. …`).
 * Reads `git ls-files`, so it checks exactly what a clone gets; failures name file:line.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")

// Built from parts so this file does not match itself.
const outside = [
  `..${"/"}shared`,
  `/work${"/"}shared`,
  ...["DEEPSEEK", "ANCHORS", "COMPUTE", "TOOLCHAIN"].map((name) => `${name}${".md"}`),
]

const tracked = (): Array<string> =>
  execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
    .split("\0")
    .filter((path) => path !== "")

/** Text of a tracked file, or undefined for binaries (a NUL byte near the start) and files missing on disk. */
const textOf = (path: string): string | undefined => {
  let bytes: Buffer
  try {
    bytes = readFileSync(join(root, path))
  } catch {
    return undefined
  }
  if (bytes.subarray(0, 8000).includes(0)) return undefined
  return bytes.toString("utf8")
}

/** Section ids of a docs page: `## 3. Title` gives "3", `### 3.1 Title` gives "3.1". */
const sectionsOf = (text: string): Set<string> =>
  new Set([...text.matchAll(/^#{2,6}\s+(\d+(?:\.\d+)*)\.?\s/gm)].map((m) => m[1] as string))

// `docs/<page>.md` at the start of a path or after `../` (not `someone/docs/…` of another project), then optional
// `§N`, `§N-§M`, `§N, §M` … right after it.
const pageCitation = /(?:(?<![\w./-])|(?<=\.\.\/))docs\/([\w-]+)\.md(?![\w/-])/g
const firstSection = /^\s*§(\d+(?:\.\d+)*)/
const nextSection = /^\s*(?:(?:,|\/|and|or)\s*§|[-–]\s*§?)(\d+(?:\.\d+)*)/

export interface Citation {
  readonly file: string
  readonly line: number
  readonly page: string
  readonly sections: ReadonlyArray<string>
}

export const citationsIn = (file: string, text: string): Array<Citation> => {
  const out: Array<Citation> = []
  text.split("\n").forEach((content, index) => {
    for (const match of content.matchAll(pageCitation)) {
      let rest = content.slice((match.index ?? 0) + match[0].length)
      const sections: Array<string> = []
      const first = firstSection.exec(rest)
      if (first !== null) {
        sections.push(first[1] as string)
        rest = rest.slice(first[0].length)
        for (let next = nextSection.exec(rest); next !== null; next = nextSection.exec(rest)) {
          sections.push(next[1] as string)
          rest = rest.slice(next[0].length)
        }
      }
      out.push({ file, line: index + 1, page: match[1] as string, sections })
    }
  })
  return out
}

describe("the repository stands alone", () => {
  const files = tracked()
  const texts = new Map(files.flatMap((file) => (textOf(file) === undefined ? [] : [[file, textOf(file) as string]])))

  it("lists the tracked files, docs pages among them", () => {
    expect(files.length).toBeGreaterThan(50)
    expect(files).toContain("docs/README.md")
  })

  it("no tracked file refers to material outside the repository", () => {
    const hits: Array<string> = []
    for (const [file, text] of texts) {
      text.split("\n").forEach((content, index) => {
        for (const name of outside) if (content.includes(name)) hits.push(`${file}:${index + 1}: ${name}`)
      })
    }
    expect(hits).toEqual([])
  })

  it("every docs/<page>.md §N citation names an existing page and section", () => {
    const pages = new Map<string, Set<string>>()
    for (const [file, text] of texts) {
      const page = /^docs\/([\w-]+)\.md$/.exec(file)?.[1]
      if (page !== undefined) pages.set(page, sectionsOf(text))
    }
    const broken: Array<string> = []
    for (const [file, text] of texts) {
      for (const citation of citationsIn(file, text)) {
        const sections = pages.get(citation.page)
        const where = `${citation.file}:${citation.line}: docs/${citation.page}.md`
        if (sections === undefined) broken.push(`${where} (no such page)`)
        else for (const s of citation.sections) if (!sections.has(s)) broken.push(`${where} §${s} (no such section)`)
      }
    }
    expect(broken).toEqual([])
  })

  it("the citation reader finds pages, sections and ranges, and ignores other projects' docs folders", () => {
    const found = citationsIn(
      "x.ts",
      "see docs/attention.md §4-§6, §8; docs/grpo.md §2 and ../../docs/model.md, not verl/docs/algo.md",
    )
    expect(found.map((c) => [c.page, c.sections])).toEqual([
      ["attention", ["4", "6", "8"]],
      ["grpo", ["2"]],
      ["model", []],
    ])
  })
})
