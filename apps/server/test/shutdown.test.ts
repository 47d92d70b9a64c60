/**
 * Graceful shutdown of the real `ds serve` process: on SIGTERM the listener closes (new connections are refused),
 * a running stream still finishes with `data: [DONE]` inside the deadline, and the process exits 0.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { connect } from "node:net"
import { resolve } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { makeCheckpoint } from "./fixture.ts"

const root = resolve(import.meta.dirname, "..", "..", "..")
const children: Array<ChildProcess> = []

afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL")
})

const startDs = (args: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; url: string; output: () => string }>((done, fail) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--conditions=@ds/source", resolve(root, "apps/cli/src/main.ts"), ...args],
      { cwd: root, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    )
    children.push(child)
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1]
      if (url !== undefined) done({ child, url, output: () => output })
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("exit", (code) => fail(new Error(`ds serve exited with ${code} before listening:\n${output}`)))
  })

describe("ds serve", () => {
  it("SIGTERM: refuses new connections, finishes the running stream, exits 0", async () => {
    const checkpoint = await makeCheckpoint()
    const { child, url, output } = await startDs([
      "serve",
      "--checkpoint",
      checkpoint,
      "--port",
      "0",
      "--backend",
      "wasm",
      "--shutdown-timeout",
      "60",
    ])
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({
        model: "tiny-chat",
        messages: [{ role: "user", content: "Hi" }],
        max_tokens: 120,
        ignore_eos: true,
        stream: true,
      }),
    })
    const reader = response.body?.getReader()
    const first = await reader?.read()
    expect(first?.done).toBe(false)
    child.kill("SIGTERM")
    // The listener closes at once: while the stream still runs, a new TCP connection is refused.
    const { port } = new URL(url)
    const connects = () =>
      new Promise<boolean>((done) => {
        const socket = connect(Number(port), "127.0.0.1")
        socket.once("connect", () => {
          socket.destroy()
          done(true)
        })
        socket.once("error", () => done(false))
      })
    let refused = false
    for (let i = 0; i < 100 && !refused; i++) {
      refused = !(await connects())
      if (!refused) await new Promise((r) => setTimeout(r, 100))
    }
    expect(refused).toBe(true)
    let rest = ""
    const decoder = new TextDecoder()
    for (;;) {
      const part = await reader?.read()
      if (part === undefined || part.done) break
      rest += decoder.decode(part.value)
    }
    // The running stream was not cut: it reached its 120 tokens and ended properly.
    expect(rest).toContain('"finish_reason":"length"')
    expect(rest.endsWith("data: [DONE]\n\n")).toBe(true)
    expect(await exited).toBe(0)
    expect(output()).toContain("stopped")
  })
})
