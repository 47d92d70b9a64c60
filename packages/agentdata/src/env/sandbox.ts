/**
 * The sandbox for untrusted code (docs/agentdata.md §3): QuickJS compiled to wasm (quickjs-emscripten). Model-written
 * programs, code-interpreter calls and repository tests never run in the host process. Each evaluation gets a
 * fresh runtime with its own memory limit, stack limit and wall-clock deadline (the interrupt handler is per runtime,
 * so a fresh one per evaluation gives each its own deadline). Output is what the program passes to `print` or
 * `console.log`, plus the value of its last expression.
 */
import { getQuickJS, type QuickJSWASMModule, shouldInterruptAfterDeadline } from "quickjs-emscripten"

export interface SandboxLimits {
  /** Wall-clock budget of one evaluation in milliseconds. */
  readonly timeoutMs: number
  /** Heap limit of the QuickJS runtime in bytes. */
  readonly memoryBytes: number
}

export const defaultLimits: SandboxLimits = { timeoutMs: 1000, memoryBytes: 32 * 1024 * 1024 }

export type SandboxResult =
  | { readonly ok: true; readonly value: unknown; readonly output: string }
  | { readonly ok: false; readonly error: string; readonly output: string; readonly limit?: "time" | "memory" }

let loading: Promise<QuickJSWASMModule> | undefined
let loaded: QuickJSWASMModule | undefined

/** Loads the QuickJS wasm module once per process. */
export const loadSandbox = (): Promise<QuickJSWASMModule> => {
  loading ??= getQuickJS().then((module) => {
    loaded = module
    return module
  })
  return loading
}

const MAX_OUTPUT = 4000

/**
 * Evaluates `code` (a script; its completion value is the result) in a fresh QuickJS runtime. The result value is
 * copied out as JSON, so only data crosses the boundary.
 */
export const runSandboxed = (code: string, limits: SandboxLimits = defaultLimits): SandboxResult => {
  if (loaded === undefined) throw new Error("QuickJS is not loaded: run loadSandbox() (or AgentRuntime.layer) first")
  const runtime = loaded.newRuntime()
  runtime.setMemoryLimit(limits.memoryBytes)
  runtime.setMaxStackSize(512 * 1024)
  // The deadline is read from the host clock: it bounds real time, which is what the limit is for.
  runtime.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + limits.timeoutMs))
  const context = runtime.newContext()
  let output = ""
  try {
    const print = context.newFunction("print", (...args) => {
      const line = args.map((arg) => {
        const value = context.dump(arg)
        return typeof value === "string" ? value : JSON.stringify(value)
      })
      if (output.length < MAX_OUTPUT) output += `${line.join(" ")}\n`
    })
    context.setProp(context.global, "print", print)
    const consoleObject = context.newObject()
    context.setProp(consoleObject, "log", print)
    context.setProp(context.global, "console", consoleObject)
    consoleObject.dispose()
    print.dispose()
    const result = context.evalCode(code, "program.js")
    if (result.error) {
      const dumped = context.dump(result.error) as { name?: string; message?: string } | string
      result.error.dispose()
      const message =
        typeof dumped === "object" && dumped !== null
          ? `${dumped.name ?? "Error"}: ${dumped.message ?? ""}`
          : `Error: ${String(dumped)}`
      const limit = /interrupted/.test(message) ? "time" : /out of memory/i.test(message) ? "memory" : undefined
      return limit === undefined
        ? { ok: false, error: message, output: output.slice(0, MAX_OUTPUT) }
        : { ok: false, error: message, output: output.slice(0, MAX_OUTPUT), limit }
    }
    const value = context.dump(result.value)
    result.value.dispose()
    return { ok: true, value: value === undefined ? null : value, output: output.slice(0, MAX_OUTPUT) }
  } catch (error) {
    // QuickJS itself can throw when the heap limit is hit while building the error object.
    const message = error instanceof Error ? error.message : String(error)
    return { ok: false, error: `InternalError: ${message}`, output, limit: "memory" }
  } finally {
    context.dispose()
    runtime.dispose()
  }
}
