/**
 * Prometheus text exposition (format 0.0.4) of the server's counters, gauges and histograms (docs/server.md §5).
 * A histogram with upper bounds b₁ < … < b_k exports cumulative counts `_bucket{le="bᵢ"}`, `le="+Inf"`, `_sum`
 * and `_count`, as Prometheus' `histogram_quantile` expects.
 */
import { Context, Layer } from "effect"

type Labels = Readonly<Record<string, string>>

const labelText = (labels: Labels): string => {
  const entries = Object.entries(labels)
  if (entries.length === 0) return ""
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`
}

class Counter {
  readonly values = new Map<string, { labels: Labels; value: number }>()
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels)
    const entry = this.values.get(key) ?? { labels, value: 0 }
    entry.value += by
    this.values.set(key, entry)
  }
  render(type: "counter" | "gauge" = "counter"): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${type}`]
    if (this.values.size === 0 && type === "counter") lines.push(`${this.name} 0`)
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`)
    return lines.join("\n")
  }
}

class Gauge {
  value = 0
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(value: number): void {
    this.value = value
  }
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.value}`].join("\n")
  }
}

class Histogram {
  readonly counts: Array<number>
  sum = 0
  count = 0
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: ReadonlyArray<number>,
  ) {
    this.counts = bounds.map(() => 0)
  }
  observe(value: number): void {
    this.sum += value
    this.count += 1
    this.bounds.forEach((b, i) => {
      if (value <= b) this.counts[i] = (this.counts[i] as number) + 1
    })
  }
  render(): string {
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} histogram`,
      ...this.bounds.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    ].join("\n")
  }
}

const latencyBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/** The series `/metrics` exports. Mutated synchronously by the engine and the routes. */
export class MetricsRegistry {
  readonly requests = new Counter("ds_requests_total", "HTTP requests answered, by route and status code.")
  readonly promptTokens = new Counter("ds_prompt_tokens_total", "Prompt tokens prefilled.")
  readonly generationTokens = new Counter("ds_generation_tokens_total", "Tokens sampled.")
  readonly queueDepth = new Gauge("ds_queue_depth", "Sequences waiting for a batch slot.")
  readonly running = new Gauge("ds_running_sequences", "Sequences prefilling or decoding.")
  readonly batchSize = new Histogram(
    "ds_batch_size",
    "Sequences in each batched decode step.",
    [1, 2, 4, 8, 16, 32, 64, 128],
  )
  readonly timeToFirstToken = new Histogram(
    "ds_time_to_first_token_seconds",
    "Time from admission to the queue to the first sampled token.",
    latencyBounds,
  )
  readonly interTokenLatency = new Histogram(
    "ds_inter_token_latency_seconds",
    "Time between consecutive tokens of a sequence.",
    latencyBounds,
  )

  render(): string {
    return `${[
      this.requests.render(),
      this.promptTokens.render(),
      this.generationTokens.render(),
      this.queueDepth.render(),
      this.running.render(),
      this.batchSize.render(),
      this.timeToFirstToken.render(),
      this.interTokenLatency.render(),
    ].join("\n")}\n`
  }
}

/** One registry per server, shared by the engine and the routes. */
export class ServerMetrics extends Context.Service<ServerMetrics, MetricsRegistry>()("@ds/server/ServerMetrics") {
  static readonly layer = Layer.sync(ServerMetrics, () => new MetricsRegistry())
}
