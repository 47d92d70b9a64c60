import { launch, makeCheckpoint } from "./fixture.ts"

const s = await launch({ checkpoint: await makeCheckpoint() })
for (const stream of [false, true]) {
  const r = await fetch(`${s.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({
      model: "tiny-chat",
      messages: [{ role: "user", content: "Tell me" }],
      max_tokens: 20,
      seed: 11,
      stream,
    }),
  })
  const t = await r.text()
  console.log(t.slice(-700))
}
await s.close()
