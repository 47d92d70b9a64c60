/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core): the page loads from
 * the server, lists the runs folder, shows a run's summary, plots and live curve (a line appended to its
 * metrics.jsonl while the page is open reaches the curve), and streams a chat reply through the API.
 * A screenshot is written to test-output/dashboard.png.
 */
import { appendFile, mkdir, mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { type Browser, chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { launch, makeCheckpoint, type TestServer } from "./fixture.ts"

let server: TestServer
let browser: Browser
let runs: string

const event = (step: number) => `${JSON.stringify({ step, time: 1_700_000_000 + step, loss: 3 / step, lr: 0.001 })}\n`

beforeAll(async () => {
  runs = await mkdtemp(join(tmpdir(), "ds-runs-"))
  await mkdir(join(runs, "demo", "sft"), { recursive: true })
  await writeFile(join(runs, "demo", "sft", "metrics.jsonl"), [1, 2, 3, 4, 5].map(event).join(""))
  await writeFile(
    join(runs, "demo", "sft", "loss.svg"),
    '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50"><text x="4" y="20">loss plot</text></svg>',
  )
  server = await launch({ checkpoint: await makeCheckpoint(), runsDir: runs })
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  })
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

describe("dashboard", () => {
  it("loads, shows a run with its live curve, streams a chat reply, and writes a screenshot", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 800 } })
    const errors: Array<string> = []
    page.on("pageerror", (e) => errors.push(String(e)))
    await page.goto(`${server.url}/`)
    await page.locator('#runs li[data-run="demo/sft"]').click()
    await expect.poll(() => page.locator("#summary").textContent()).toContain("loss")
    await expect.poll(() => page.locator("#live-status").textContent()).toBe("5 points")
    expect(await page.locator('#plots [data-plot="loss.svg"]').textContent()).toContain("loss plot")
    // A training step written now reaches the open page over SSE.
    await appendFile(join(runs, "demo", "sft", "metrics.jsonl"), event(6))
    await expect.poll(() => page.locator("#live-status").textContent(), { timeout: 20_000 }).toBe("6 points")
    await page.locator("#chat-input").fill("Hello")
    await page.locator("#chat-send").click()
    await expect.poll(() => page.locator("#chat-status").textContent(), { timeout: 60_000 }).toBe("done")
    expect((await page.locator("#chat-output .reply").textContent())?.length).toBeGreaterThan(0)
    const out = resolve(import.meta.dirname, "..", "test-output")
    await mkdir(out, { recursive: true })
    await page.screenshot({ path: join(out, "dashboard.png") })
    expect(errors).toEqual([])
  })
})
