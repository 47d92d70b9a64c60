/**
 * Shop orders and returns (docs/agentdata.md §4.2). State changes: `return_item` marks an item returned and
 * refunds it (only delivered orders within the 30-day window), `cancel_order` cancels a pending order. The verifier
 * checks the refund total and exactly which items and orders changed.
 */
import type { Rng } from "@ds/core"
import { refuse, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import type { Db } from "../env/sqlite.ts"
import { asNumbers, asRecord, cents, type Domain, num, personName, queryTool, submitTool } from "./domain.ts"

const CATEGORIES = ["electronics", "kitchen", "books", "toys", "garden", "sports"]
const TODAY = 100

interface Goal {
  readonly customer: string
  readonly returns: ReadonlyArray<readonly [number, number]>
  readonly cancels: ReadonlyArray<number>
  readonly refund: number
}

const check = (goal: Goal, answer: unknown, db: Db): Array<string> => {
  const failures: Array<string> = []
  const refund = Number(asRecord(answer).refund_total)
  if (cents(refund) !== goal.refund) failures.push(`refund_total ${refund} != ${goal.refund}`)
  const returned = db
    .all(
      "SELECT i.order_id, i.product_id FROM order_items i JOIN orders o ON o.id = i.order_id JOIN customers c " +
        "ON c.id = o.customer_id WHERE c.name = ? AND i.returned = 1 AND i.returned_by_task = 1 ORDER BY 1, 2",
      [goal.customer],
    )
    .map((r) => `${r.order_id}:${r.product_id}`)
  const want = goal.returns.map(([o, p]) => `${o}:${p}`).sort()
  if (JSON.stringify(returned) !== JSON.stringify(want))
    failures.push(`returned items ${returned.join(",")} != ${want.join(",")}`)
  const cancelled = db
    .all("SELECT id FROM orders WHERE status = 'cancelled' AND cancelled_by_task = 1 ORDER BY id")
    .map((r) => Number(r.id))
  if (JSON.stringify(cancelled) !== JSON.stringify([...goal.cancels].sort((a, b) => a - b)))
    failures.push(`cancelled orders ${cancelled.join(",")} != ${goal.cancels.join(",")}`)
  const ids = asNumbers(asRecord(answer).cancelled_order_ids).sort((a, b) => a - b)
  if (JSON.stringify(ids) !== JSON.stringify([...goal.cancels].sort((a, b) => a - b)))
    failures.push("cancelled_order_ids do not match the orders cancelled")
  return failures
}

export const shop: Domain = {
  name: "shop",
  system:
    "You are a customer-service agent for an online shop. Returns are allowed only for delivered orders placed " +
    `within 30 days of today; only pending orders can be cancelled. Use the tools; submit_result ends the task.`,
  maxLevel: 3,
  build: (rng: Rng, db: Db) => {
    db.exec(
      "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT);" +
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, category TEXT, price REAL);" +
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, day INTEGER, status TEXT, cancelled_by_task INTEGER DEFAULT 0);" +
        "CREATE TABLE order_items (order_id INTEGER, product_id INTEGER, qty INTEGER, returned INTEGER DEFAULT 0, returned_by_task INTEGER DEFAULT 0);",
    )
    const used = new Set<string>()
    const customers = Array.from({ length: rng.int(4, 8) }, (_, i) => {
      const name = personName(rng, used)
      return [i + 1, name, `${name.toLowerCase().replace(" ", ".")}@example.com`]
    })
    db.insert("customers", ["id", "name", "email"], customers)
    const products = Array.from({ length: rng.int(12, 20) }, (_, i) => {
      const category = rng.choice(CATEGORIES)
      return [i + 1, `${category} item ${i + 1}`, category, rng.int(5, 200) + rng.int(0, 100) / 100]
    })
    db.insert("products", ["id", "name", "category", "price"], products)
    const orders: Array<Array<number | string>> = []
    const items: Array<Array<number>> = []
    let orderId = 1
    for (const [customerId] of customers)
      for (let k = rng.int(2, 6); k > 0; k--) {
        const status = rng.choice(["delivered", "delivered", "pending", "shipped"])
        orders.push([orderId, customerId as number, TODAY - rng.int(0, 60), status])
        for (const p of rng.shuffle(products).slice(0, rng.int(1, 4)))
          items.push([orderId, p[0] as number, rng.int(1, 3), rng.float() < 0.1 ? 1 : 0])
        orderId++
      }
    db.insert("orders", ["id", "customer_id", "day", "status"], orders)
    db.insert("order_items", ["order_id", "product_id", "qty", "returned"], items)
  },
  tools: [
    queryTool("get_today", "Today's day number.", {}, `SELECT ${TODAY} AS today`, true),
    queryTool(
      "find_customer_by_name",
      "Find a customer by full name.",
      { name: s.str("Full name") },
      "SELECT id, name, email FROM customers WHERE name = ?",
      true,
    ),
    queryTool(
      "get_customer",
      "A customer's details.",
      { id: s.int("Customer id") },
      "SELECT * FROM customers WHERE id = ?",
      true,
    ),
    queryTool(
      "list_orders_by_customer",
      "A customer's orders (id, day, status).",
      { customer_id: s.int("Customer id") },
      "SELECT id, day, status FROM orders WHERE customer_id = ? ORDER BY id",
    ),
    queryTool(
      "get_order",
      "One order.",
      { order_id: s.int("Order id") },
      "SELECT id, customer_id, day, status FROM orders WHERE id = ?",
      true,
    ),
    queryTool(
      "list_order_items",
      "Items of an order (product_id, qty, returned).",
      { order_id: s.int("Order id") },
      "SELECT product_id, qty, returned FROM order_items WHERE order_id = ? ORDER BY product_id",
    ),
    queryTool(
      "get_product",
      "One product (name, category, unit price).",
      { product_id: s.int("Product id") },
      "SELECT * FROM products WHERE id = ?",
      true,
    ),
    queryTool(
      "list_products_by_category",
      "Products in a category.",
      { category: s.oneOf("Category", CATEGORIES) },
      "SELECT id, name, price FROM products WHERE category = ? ORDER BY id",
    ),
    {
      name: "return_item",
      description: "Return one product of a delivered order placed within 30 days; refunds price × qty.",
      parameters: s.obj({ order_id: s.int("Order id"), product_id: s.int("Product id") }),
      run: ({ db }, args) => {
        const order = db.get("SELECT * FROM orders WHERE id = ?", [args.order_id]) ?? refuse("no such order")
        if (order.status !== "delivered") refuse(`order ${args.order_id} is ${order.status}, not delivered`)
        if (TODAY - num(order, "day") > 30) refuse(`order ${args.order_id} is older than 30 days`)
        const item =
          db.get("SELECT * FROM order_items WHERE order_id = ? AND product_id = ?", [args.order_id, args.product_id]) ??
          refuse("that product is not in the order")
        if (item.returned === 1) refuse("already returned")
        db.run("UPDATE order_items SET returned = 1, returned_by_task = 1 WHERE order_id = ? AND product_id = ?", [
          args.order_id,
          args.product_id,
        ])
        const price = num(db.get("SELECT price FROM products WHERE id = ?", [args.product_id]), "price")
        return { refunded: cents(price * num(item, "qty")) }
      },
    },
    {
      name: "cancel_order",
      description: "Cancel a pending order.",
      parameters: s.obj({ order_id: s.int("Order id") }),
      run: ({ db }, args) => {
        const order = db.get("SELECT * FROM orders WHERE id = ?", [args.order_id]) ?? refuse("no such order")
        if (order.status !== "pending") refuse(`order ${args.order_id} is ${order.status}; only pending orders cancel`)
        db.run("UPDATE orders SET status = 'cancelled', cancelled_by_task = 1 WHERE id = ?", [args.order_id])
        return { cancelled: args.order_id }
      },
    },
    submitTool("The total refunded and the ids of the orders cancelled.", {
      refund_total: s.num("Sum of refunds"),
      cancelled_order_ids: s.ints("Orders cancelled (empty if none)"),
    }),
  ],
  propose: (rng, truth, level) => {
    const customer = rng.choice(truth.all("SELECT id, name FROM customers"))
    const eligible = truth.all(
      "SELECT i.order_id, i.product_id, i.qty, p.price, p.category FROM order_items i JOIN orders o ON o.id = i.order_id " +
        "JOIN products p ON p.id = i.product_id WHERE o.customer_id = ? AND o.status = 'delivered' AND o.day >= ? " +
        "AND i.returned = 0 ORDER BY i.order_id, i.product_id",
      [customer.id as number, TODAY - 30],
    )
    if (eligible.length === 0) return undefined
    let prompt: string
    let returns: Array<Record<string, unknown>>
    if (level === 1) {
      const item = rng.choice(eligible)
      returns = [item]
      prompt = `${customer.name} wants to return product ${item.product_id} from order ${item.order_id}. Process the return.`
    } else {
      const category = String(rng.choice(eligible).category)
      returns = eligible.filter((e) => e.category === category)
      prompt = `${customer.name} wants to return every ${category} product from all delivered orders that can still be returned.`
    }
    let cancels: Array<number> = []
    if (level >= 3) {
      const threshold = rng.int(2, 15) * 10
      cancels = truth
        .all(
          "SELECT o.id, SUM(i.qty * p.price) AS total FROM orders o JOIN order_items i ON i.order_id = o.id " +
            "JOIN products p ON p.id = i.product_id WHERE o.customer_id = ? AND o.status = 'pending' GROUP BY o.id ORDER BY o.id",
          [customer.id as number],
        )
        .filter((o) => num(o, "total") > threshold)
        .map((o) => Number(o.id))
      prompt += ` Also cancel each of their pending orders whose total (price × qty) exceeds ${threshold}.`
    }
    prompt += " Then submit the total refund and the cancelled order ids."
    const goal: Goal = {
      customer: String(customer.name),
      returns: returns.map((r) => [Number(r.order_id), Number(r.product_id)] as const),
      cancels,
      refund: cents(returns.reduce((sum, r) => sum + num(r, "price") * num(r, "qty"), 0)),
    }
    return {
      prompt,
      verify: (answer, state) => verdict(check(goal, answer, state)),
      solve: (call) => {
        const c = call("find_customer_by_name", { name: goal.customer }) as { id: number }
        const orders = call("list_orders_by_customer", { customer_id: c.id }) as Array<{
          id: number
          day: number
          status: string
        }>
        const today = (call("get_today", {}) as { today: number }).today
        let refund = 0
        const wanted = level === 1 ? new Set(goal.returns.map(([o, p]) => `${o}:${p}`)) : undefined
        const category = level === 1 ? undefined : String(returns[0]?.category)
        for (const o of orders) {
          if (o.status !== "delivered" || today - o.day > 30) continue
          for (const item of call("list_order_items", { order_id: o.id }) as Array<{
            product_id: number
            returned: number
          }>) {
            if (item.returned === 1) continue
            if (wanted !== undefined && !wanted.has(`${o.id}:${item.product_id}`)) continue
            if (category !== undefined) {
              const p = call("get_product", { product_id: item.product_id }) as { category: string }
              if (p.category !== category) continue
            }
            refund += (call("return_item", { order_id: o.id, product_id: item.product_id }) as { refunded: number })
              .refunded
          }
        }
        const cancelled: Array<number> = []
        if (level >= 3) {
          const threshold = Number(/exceeds (\d+)/.exec(prompt)?.[1])
          for (const o of orders) {
            if (o.status !== "pending") continue
            let total = 0
            for (const item of call("list_order_items", { order_id: o.id }) as Array<{
              product_id: number
              qty: number
            }>)
              total += (call("get_product", { product_id: item.product_id }) as { price: number }).price * item.qty
            if (total > threshold) {
              call("cancel_order", { order_id: o.id })
              cancelled.push(o.id)
            }
          }
        }
        call("submit_result", { refund_total: cents(refund), cancelled_order_ids: cancelled })
      },
    }
  },
}
