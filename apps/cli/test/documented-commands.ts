/**
 * The commands the documentation shows, extracted mechanically so that a test can run each one:
 *
 * - every line of a ```sh / ```bash / ```shell block of `README.md`, `packages/<name>/README.md` and
 *   `apps/<name>/README.md` (comments after ` #` dropped, `\` continuations joined);
 * - every code span in the first cell of a Markdown table row that reads as a command (starts with `ds`, `pnpm`,
 *   `npm`, `npx`, `node` or an `ENV=value` prefix): the command tables of the READMEs;
 * - every example of every `ds` subcommand (`Command.withExamples`, what `ds <command> --help` prints under
 *   EXAMPLES), walked from the live command tree, so a new command's examples are picked up by themselves.
 *
 * Commands are normalised (`pnpm ds X` and `ds X` are the same command: the first runs the second from source)
 * and collapsed to single spaces, which is the key of the coverage table in documented-commands.test.ts.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"

export interface DocumentedCommand {
  /** The command as the coverage table names it. */
  readonly command: string
  /** Where it is shown: `README.md:42` or `ds train --help`. */
  readonly source: string
}

const commandStart = /^(?:[A-Z_][A-Z0-9_]*=\S+\s+)*(?:ds|pnpm|npm|npx|node)(?:\s|$)/

/** `pnpm ds X` -> `ds X` (at the start and after a pipe or `&&`), whitespace collapsed. */
export const normalise = (command: string): string =>
  command
    .trim()
    .replace(/\s+/g, " ")
    .replace(/(^|\| |&& )((?:[A-Z_][A-Z0-9_]*=\S+ )*)pnpm ds /g, "$1$2ds ")

/** Drops a trailing ` # comment` (outside quotes, which no documented command needs). */
const dropComment = (line: string): string => {
  const match = /(^|\s)#\s/.exec(line)
  return match === null ? line : line.slice(0, match.index)
}

/** The commands of one Markdown file. */
export const markdownCommands = (text: string, file: string): Array<DocumentedCommand> => {
  const found: Array<DocumentedCommand> = []
  const lines = text.split("\n")
  let fence: string | undefined
  let pending = ""
  let pendingLine = 0
  lines.forEach((line, i) => {
    const fenceMatch = /^\s*(```+)\s*(\S*)/.exec(line)
    if (fenceMatch !== null) {
      fence = fence === undefined ? (fenceMatch[2] ?? "") : undefined
      return
    }
    if (fence !== undefined) {
      if (!["sh", "bash", "shell", "console"].includes(fence)) return
      const code = dropComment(line).replace(/^\s*\$\s+/, "")
      if (pending === "") pendingLine = i + 1
      if (code.trimEnd().endsWith("\\")) {
        pending += `${code.trimEnd().slice(0, -1)} `
        return
      }
      const command = `${pending}${code}`.trim()
      pending = ""
      if (command !== "") found.push({ command: normalise(command), source: `${file}:${pendingLine}` })
      return
    }
    if (/^\s*\|/.test(line)) {
      const firstCell = line.split("|")[1] ?? ""
      for (const span of firstCell.matchAll(/`([^`]+)`/g)) {
        const code = span[1] ?? ""
        if (commandStart.test(code)) found.push({ command: normalise(code), source: `${file}:${i + 1}` })
      }
    }
  })
  return found
}

/** The README files whose commands must work: the root one and each package's and app's. */
export const readmeFiles = (root: string): Array<string> => {
  const files = [join(root, "README.md")]
  for (const group of ["packages", "apps"]) {
    for (const entry of readdirSync(join(root, group), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue
      const readme = join(root, group, entry.name, "README.md")
      try {
        readFileSync(readme)
        files.push(readme)
      } catch {
        // A package without a README has no commands to check (publint and the package checks ask for one).
      }
    }
  }
  return files
}

export const readmeCommands = (root: string): Array<DocumentedCommand> =>
  readmeFiles(root).flatMap((file) => markdownCommands(readFileSync(file, "utf8"), relative(root, file)))

/** The shape of an effect/cli command that the walk reads (public fields of `Command`). */
export interface CommandNode {
  readonly name: string
  readonly examples: ReadonlyArray<{ readonly command: string; readonly description?: string | undefined }>
  readonly subcommands: ReadonlyArray<{ readonly commands: ReadonlyArray<CommandNode> }>
}

export interface HelpExample extends DocumentedCommand {
  readonly description: string
}

/** Every `--help` example of a command tree, depth first. */
export const helpExamples = (node: CommandNode, path: ReadonlyArray<string> = [node.name]): Array<HelpExample> => [
  ...node.examples.map((example) => ({
    command: normalise(example.command),
    source: `${path.join(" ")} --help`,
    description: example.description ?? "",
  })),
  ...node.subcommands.flatMap((group) => group.commands.flatMap((child) => helpExamples(child, [...path, child.name]))),
]
