/**
 * Banking (docs/agentdata.md §4.5): pay a customer's bills due by a day from their checking account, moving only the
 * shortfall from savings (so checking keeps a required minimum), never overdrawing. The verifier checks which bills
 * are paid, the balances, and the submitted transfer total (the minimum that works).
 */
import type { Rng } from "@ds/core"
import { refuse, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import type { Db } from "../env/sqlite.ts"
import { asNumbers, asRecord, cents, type Domain, num, personName, queryTool, submitTool } from "./domain.ts"

const balance = (db: Db, id: number) => num(db.get("SELECT balance FROM accounts WHERE id = ?", [id]), "balance")

export const banking: Domain = {
  name: "banking",
  system:
    "You are a banking assistant. Transfers and payments may never overdraw an account. Use the tools, then " +
    "submit_result with the total you transferred.",
  maxLevel: 3,
  build: (rng: Rng, db: Db) => {
    db.exec(
      "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);" +
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, customer_id INTEGER, kind TEXT, balance REAL);" +
        "CREATE TABLE bills (id INTEGER PRIMARY KEY, account_id INTEGER, payee TEXT, amount REAL, due_day INTEGER, paid INTEGER DEFAULT 0);" +
        "CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, from_id INTEGER, to_id INTEGER, amount REAL);",
    )
    const used = new Set<string>()
    let account = 1
    let bill = 1
    for (let c = 1; c <= rng.int(3, 6); c++) {
      db.run("INSERT INTO customers VALUES (?, ?)", [c, personName(rng, used)])
      const checking = account++
      db.run("INSERT INTO accounts VALUES (?, ?, 'checking', ?)", [checking, c, rng.int(50, 800)])
      db.run("INSERT INTO accounts VALUES (?, ?, 'savings', ?)", [account++, c, rng.int(1500, 5000)])
      for (let k = rng.int(2, 6); k > 0; k--)
        db.run("INSERT INTO bills (id, account_id, payee, amount, due_day) VALUES (?, ?, ?, ?, ?)", [
          bill++,
          checking,
          rng.choice(["power", "water", "rent", "phone", "insurance", "internet"]),
          rng.int(20, 400) + rng.int(0, 100) / 100,
          rng.int(1, 31),
        ])
    }
  },
  tools: [
    queryTool(
      "find_customer",
      "Find a customer by name.",
      { name: s.str("Full name") },
      "SELECT * FROM customers WHERE name = ?",
      true,
    ),
    queryTool(
      "list_accounts",
      "A customer's accounts.",
      { customer_id: s.int("Customer id") },
      "SELECT * FROM accounts WHERE customer_id = ? ORDER BY id",
    ),
    queryTool(
      "get_account",
      "One account.",
      { account_id: s.int("Account id") },
      "SELECT * FROM accounts WHERE id = ?",
      true,
    ),
    queryTool(
      "list_bills",
      "Bills charged to an account.",
      { account_id: s.int("Account id") },
      "SELECT * FROM bills WHERE account_id = ? ORDER BY due_day, id",
    ),
    queryTool("get_bill", "One bill.", { bill_id: s.int("Bill id") }, "SELECT * FROM bills WHERE id = ?", true),
    queryTool("list_ledger", "Transfers and payments made so far.", {}, "SELECT * FROM ledger ORDER BY id"),
    {
      name: "transfer",
      description: "Move money between two accounts of the same customer.",
      parameters: s.obj({
        from_account: s.int("Source"),
        to_account: s.int("Destination"),
        amount: s.num("Amount > 0"),
      }),
      run: ({ db }, args) => {
        const amount = cents(Number(args.amount))
        const from = db.get("SELECT * FROM accounts WHERE id = ?", [args.from_account]) ?? refuse("no source account")
        const to = db.get("SELECT * FROM accounts WHERE id = ?", [args.to_account]) ?? refuse("no destination account")
        if (from.customer_id !== to.customer_id) refuse("accounts belong to different customers")
        if (!(amount > 0)) refuse("amount must be positive")
        if (num(from, "balance") < amount) refuse("insufficient funds")
        db.run("UPDATE accounts SET balance = ROUND(balance - ?, 2) WHERE id = ?", [amount, args.from_account])
        db.run("UPDATE accounts SET balance = ROUND(balance + ?, 2) WHERE id = ?", [amount, args.to_account])
        db.run("INSERT INTO ledger (kind, from_id, to_id, amount) VALUES ('transfer', ?, ?, ?)", [
          args.from_account,
          args.to_account,
          amount,
        ])
        return { from_balance: balance(db, args.from_account), to_balance: balance(db, args.to_account) }
      },
    },
    {
      name: "pay_bill",
      description: "Pay a bill from its account.",
      parameters: s.obj({ bill_id: s.int("Bill id") }),
      run: ({ db }, args) => {
        const bill = db.get("SELECT * FROM bills WHERE id = ?", [args.bill_id]) ?? refuse("no such bill")
        if (bill.paid === 1) refuse("already paid")
        if (balance(db, num(bill, "account_id")) < num(bill, "amount")) refuse("insufficient funds")
        db.run("UPDATE accounts SET balance = ROUND(balance - ?, 2) WHERE id = ?", [
          bill.amount as number,
          bill.account_id as number,
        ])
        db.run("UPDATE bills SET paid = 1 WHERE id = ?", [args.bill_id])
        db.run("INSERT INTO ledger (kind, from_id, to_id, amount) VALUES ('bill', ?, NULL, ?)", [
          bill.account_id as number,
          bill.amount as number,
        ])
        return { paid: args.bill_id, balance: balance(db, num(bill, "account_id")) }
      },
    },
    submitTool("The total amount transferred.", {
      transferred: s.num("Total transferred"),
      paid_bill_ids: s.ints("Bills paid"),
    }),
  ],
  propose: (rng, truth, level) => {
    const customer = rng.choice(truth.all("SELECT * FROM customers"))
    const checking = truth.get("SELECT * FROM accounts WHERE customer_id = ? AND kind = 'checking'", [
      customer.id as number,
    ])!
    const savings = truth.get("SELECT * FROM accounts WHERE customer_id = ? AND kind = 'savings'", [
      customer.id as number,
    ])!
    const allBills = truth.all("SELECT * FROM bills WHERE account_id = ? ORDER BY due_day, id", [checking.id as number])
    const due = level === 1 ? rng.int(1, 32) : level === 2 ? rng.int(10, 32) : 31
    const bills = level === 1 ? [rng.choice(allBills)] : allBills.filter((b) => num(b, "due_day") <= due)
    if (bills.length === 0) return undefined
    const keep = level >= 3 ? rng.int(1, 5) * 50 : 0
    const need = cents(bills.reduce((sum, b) => sum + num(b, "amount"), 0) + keep)
    const transfer = cents(Math.max(0, need - num(checking, "balance")))
    if (transfer > num(savings, "balance")) return undefined
    const ids = bills.map((b) => num(b, "id")).sort((a, b) => a - b)
    const prompt =
      `${customer.name} asks you to pay ${level === 1 ? `bill ${ids[0]}` : `every bill due on or before day ${due}`} from their checking ` +
      `account${keep > 0 ? `, keeping at least ${keep} in checking afterwards` : ""}. Move only what is missing from their savings ` +
      "(one transfer, or none if checking suffices), pay, and submit the amount transferred and the bills paid."
    return {
      prompt,
      verify: (answer, state) => {
        const a = asRecord(answer)
        const failures: Array<string> = []
        const paid = state
          .all("SELECT id FROM bills WHERE account_id = ? AND paid = 1 ORDER BY id", [checking.id as number])
          .map((r) => num(r, "id"))
        if (JSON.stringify(paid) !== JSON.stringify(ids))
          failures.push(`paid bills ${paid.join(",")} != ${ids.join(",")}`)
        if (cents(Number(a.transferred)) !== transfer) failures.push(`transferred ${a.transferred} != ${transfer}`)
        if (JSON.stringify(asNumbers(a.paid_bill_ids).sort((x, y) => x - y)) !== JSON.stringify(ids))
          failures.push("paid_bill_ids do not match the bills paid")
        if (balance(state, num(checking, "id")) < keep - 0.001) failures.push(`checking below ${keep}`)
        const moved = state
          .all("SELECT amount FROM ledger WHERE kind = 'transfer'")
          .reduce((sum, r) => sum + num(r, "amount"), 0)
        if (cents(moved) !== transfer) failures.push(`ledger shows ${cents(moved)} transferred, expected ${transfer}`)
        return verdict(failures)
      },
      solve: (call) => {
        const c = call("find_customer", { name: String(customer.name) }) as { id: number }
        const accounts = call("list_accounts", { customer_id: c.id }) as Array<{
          id: number
          kind: string
          balance: number
        }>
        const chk = accounts.find((x) => x.kind === "checking")!
        const sav = accounts.find((x) => x.kind === "savings")!
        const list = (
          call("list_bills", { account_id: chk.id }) as Array<{
            id: number
            amount: number
            due_day: number
            paid: number
          }>
        ).filter((b) => b.paid === 0 && (level === 1 ? b.id === ids[0] : b.due_day <= due))
        const missing = cents(Math.max(0, list.reduce((sum, b) => sum + b.amount, 0) + keep - chk.balance))
        if (missing > 0) call("transfer", { from_account: sav.id, to_account: chk.id, amount: missing })
        for (const b of list) call("pay_bill", { bill_id: b.id })
        call("submit_result", { transferred: missing, paid_bill_ids: list.map((b) => b.id) })
      },
    }
  },
}
