/**
 * A general-agent domain sized for a tiny model (docs/agentdata.md §14): a price list in SQLite, two tools, one
 * level. The task names an item code; the oracle looks the price up with `price`, then submits it with `submit`;
 * the verifier compares the submitted price with the table. A solver has to copy the code from the prompt into a
 * call and the number from the tool result into the submission, so the tool result is needed to pass (a policy
 * that ignores it guesses one price in 90), and each episode is two short turns in DeepSeek-V3.2's format.
 * The code is quoted in the prompt (`Price of "K7"?`) so that a byte-level BPE splits it into the same tokens as
 * in the call's `">K7</`: unquoted, the letter follows a space and becomes another token (" K" against "K"), and the
 * tiny model has to learn 24 letter pairs instead of copying.
 *
 * It goes through the same synthesis loop as the eight domains (data, tools, propose, check), but is not part of the
 * presets: `ds agentdata demo` trains on it.
 */
import type { Rng } from "@ds/core"
import { refuse, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import type { Db } from "../env/sqlite.ts"
import { asRecord, type Domain, num } from "../general/domain.ts"

const LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"

export const priceLookup: Domain = {
  name: "prices",
  system: "",
  maxLevel: 1,
  build: (rng: Rng, db: Db) => {
    db.exec("CREATE TABLE items (code TEXT PRIMARY KEY, price INTEGER)")
    const codes = new Set<string>()
    while (codes.size < 4) codes.add(`${rng.choice([...LETTERS])}${rng.int(1, 10)}`)
    for (const code of codes) db.run("INSERT INTO items VALUES (?, ?)", [code, rng.int(10, 100)])
  },
  tools: [
    {
      name: "price",
      description: "The price of an item.",
      parameters: s.obj({ code: s.str("Item code") }),
      run: ({ db }, args) =>
        db.get("SELECT price FROM items WHERE code = ?", [args.code]) ?? refuse(`no item ${JSON.stringify(args.code)}`),
    },
    {
      name: "submit",
      description: "Submit the price and end the task.",
      parameters: s.obj({ price: s.int("The price") }),
      run: ({ submit }, args) => {
        submit(args)
        return { submitted: true }
      },
    },
  ],
  propose: (rng, truth) => {
    const row = rng.choice(truth.all("SELECT code, price FROM items ORDER BY code"))
    const code = String(row?.code)
    const price = num(row, "price")
    return {
      prompt: `Price of "${code}"?`,
      solve: (call) => {
        const found = asRecord(call("price", { code }))
        call("submit", { price: found.price })
      },
      verify: (answer) => {
        const submitted = asRecord(answer).price
        return verdict(
          submitted === price ? [] : [`submitted price ${JSON.stringify(submitted)}, the table has ${price}`],
        )
      },
    }
  },
}
