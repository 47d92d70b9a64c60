/**
 * The dashboard (docs/server.md §7): `GET /` serves one static HTML page (no build step), which reads
 *
 *   GET /api/runs                       every folder under the runs directory with a metrics.jsonl (depth ≤ 3)
 *   GET /api/runs/summary?run=ID        its options, last values, step count and SVG plot names
 *   GET /api/runs/plot?run=ID&file=F    one of its rendered SVG plots
 *   GET /api/runs/events?run=ID         SSE: every event of its metrics.jsonl, then new ones as they are appended
 *
 * and chats through `/v1/chat/completions`. A run id is a path relative to the runs directory; ids that leave it
 * are refused. Torn last lines (a writer mid-append) are held until complete.
 */
import { readdir, readFile, stat } from "node:fs/promises"
import { join, relative, resolve, sep } from "node:path"
import { Effect, Layer, Queue, Stream } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { type ApiError, invalidRequest, notFound } from "./errors.ts"
import { handler } from "./handler.ts"
import { ServerConfig } from "./server-config.ts"

const metricsFile = "metrics.jsonl"

const io = <A>(f: () => Promise<A>, what: string): Effect.Effect<A, ApiError> =>
  Effect.tryPromise({ try: f, catch: (e) => notFound(`${what}: ${(e as Error).message}`) })

const findRuns = async (root: string, depth = 3): Promise<Array<string>> => {
  const out: Array<string> = []
  const walk = async (dir: string, level: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    if (entries.some((e) => e.isFile() && e.name === metricsFile)) out.push(relative(root, dir))
    if (level >= depth) return
    for (const e of entries)
      if (e.isDirectory() && !e.name.startsWith(".") && e.name !== "checkpoint" && e.name !== "rollouts")
        await walk(join(dir, e.name), level + 1)
  }
  await walk(root, 0)
  return out.filter((r) => r !== "").sort()
}

const queryOf = (request: HttpServerRequest.HttpServerRequest) => new URL(request.url, "http://x").searchParams

/** The run folder named by `?run=`, inside the runs directory. */
const runDir = Effect.fnUntraced(function* (request: HttpServerRequest.HttpServerRequest) {
  const { runsDir } = yield* ServerConfig
  const id = queryOf(request).get("run")
  if (id === null || id === "") return yield* Effect.fail(invalidRequest("Missing query parameter 'run'.", "run"))
  const root = resolve(runsDir)
  const dir = resolve(root, id)
  if (dir !== root && !dir.startsWith(root + sep)) return yield* Effect.fail(invalidRequest("Bad run id.", "run"))
  yield* io(() => stat(join(dir, metricsFile)), `No run '${id}'`)
  return { id, dir }
})

const parseLines = (text: string): Array<Record<string, unknown>> =>
  text.split("\n").flatMap((line) => {
    if (line.trim() === "") return []
    try {
      const v: unknown = JSON.parse(line)
      return typeof v === "object" && v !== null ? [v as Record<string, unknown>] : []
    } catch {
      return []
    }
  })

const listRuns = handler("/api/runs", () =>
  Effect.gen(function* () {
    const { runsDir } = yield* ServerConfig
    const ids = yield* io(() => findRuns(resolve(runsDir)), "Cannot read the runs folder")
    const runs = yield* Effect.forEach(ids, (id) =>
      io(() => stat(join(resolve(runsDir), id, metricsFile)), id).pipe(
        Effect.map((s) => ({ id, updated: s.mtime.toISOString(), bytes: s.size })),
      ),
    )
    return HttpServerResponse.jsonUnsafe({ runsDir: resolve(runsDir), runs })
  }),
)

const summary = handler("/api/runs/summary", (request) =>
  Effect.gen(function* () {
    const { id, dir } = yield* runDir(request)
    const events = parseLines(yield* io(() => readFile(join(dir, metricsFile), "utf8"), id))
    const files = yield* io(() => readdir(dir), id)
    const optionsFile = files.find((f) => f.endsWith("_options.json") || f === "config.json")
    const options =
      optionsFile === undefined
        ? null
        : yield* io(() => readFile(join(dir, optionsFile), "utf8"), optionsFile).pipe(
            Effect.map((t): unknown => JSON.parse(t)),
            Effect.orElseSucceed(() => null),
          )
    const last = events[events.length - 1] ?? null
    const metrics = [...new Set(events.flatMap((e) => Object.keys(e)))].filter(
      (k) => k !== "step" && k !== "time" && events.some((e) => typeof e[k] === "number"),
    )
    return HttpServerResponse.jsonUnsafe({
      id,
      steps: events.length,
      last,
      metrics,
      plots: files.filter((f) => f.endsWith(".svg")).sort(),
      options,
    })
  }),
)

const plot = handler("/api/runs/plot", (request) =>
  Effect.gen(function* () {
    const { id, dir } = yield* runDir(request)
    const file = queryOf(request).get("file") ?? ""
    if (!/^[\w.-]+\.svg$/.test(file)) return yield* Effect.fail(invalidRequest("Bad plot file name.", "file"))
    const svg = yield* io(() => readFile(join(dir, file), "utf8"), `${id}/${file}`)
    return HttpServerResponse.text(svg, { contentType: "image/svg+xml" })
  }),
)

/** SSE of a run's events: all that exist, then each new complete line (polled every `pollMs`). */
const tail = (path: string, pollMs: number): Stream.Stream<Uint8Array> =>
  Stream.callback<Uint8Array>((out) =>
    Effect.gen(function* () {
      const encoder = new TextEncoder()
      let offset = 0
      let pending = ""
      let idle = 0
      for (;;) {
        const chunk = yield* Effect.promise(() =>
          readFile(path).then(
            (b) => b.subarray(Math.min(offset, b.length)),
            () => Buffer.alloc(0),
          ),
        )
        offset += chunk.length
        const text = pending + chunk.toString("utf8")
        const end = text.lastIndexOf("\n")
        pending = end < 0 ? text : text.slice(end + 1)
        const events = end < 0 ? [] : parseLines(text.slice(0, end))
        if (events.length > 0) {
          idle = 0
          Queue.offerUnsafe(out, encoder.encode(`data: ${JSON.stringify(events)}\n\n`))
        } else if (++idle % 20 === 0) Queue.offerUnsafe(out, encoder.encode(": keep-alive\n\n"))
        yield* Effect.sleep(pollMs)
      }
    }),
  )

const events = handler("/api/runs/events", (request) =>
  Effect.gen(function* () {
    const { dir } = yield* runDir(request)
    return HttpServerResponse.stream(tail(join(dir, metricsFile), 500), {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-cache" },
    })
  }),
)

const page = handler(
  "/",
  () =>
    io(() => readFile(new URL("../static/dashboard.html", import.meta.url), "utf8"), "dashboard page").pipe(
      Effect.map((html) => HttpServerResponse.text(html, { contentType: "text/html; charset=utf-8" })),
    ),
  { open: true },
)

export const dashboardRoutes = Layer.mergeAll(
  HttpRouter.add("GET", "/", page),
  HttpRouter.add("GET", "/api/runs", listRuns),
  HttpRouter.add("GET", "/api/runs/summary", summary),
  HttpRouter.add("GET", "/api/runs/plot", plot),
  HttpRouter.add("GET", "/api/runs/events", events),
)
