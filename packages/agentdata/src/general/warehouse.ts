/**
 * Warehouse routing (docs/agentdata.md §4.8): pick an order's lines from bins that hold enough stock and walk a
 * route from the dock (0, 0) through those bins and back within a distance limit (Manhattan metric). The limit is
 * the optimum over bin choices and visiting orders, so the agent must search. The verifier checks stock, picks and
 * the route's length from the bins' coordinates.
 */
import type { Rng } from "@ds/core"
import { refuse, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import { asNumbers, asRecord, type Domain, num, queryTool, submitTool } from "./domain.ts"

type Point = { readonly x: number; readonly y: number }
const dist = (a: Point, b: Point) => Math.abs(a.x - b.x) + Math.abs(a.y - b.y)

/** Shortest closed walk dock -> points (any order) -> dock, by trying every order (at most 3-4 points). */
const tour = (points: ReadonlyArray<Point>): number => {
  const dock = { x: 0, y: 0 }
  let best = Number.POSITIVE_INFINITY
  const go = (at: Point, left: ReadonlyArray<Point>, length: number) => {
    if (left.length === 0) {
      best = Math.min(best, length + dist(at, dock))
      return
    }
    for (const [i, p] of left.entries()) go(p, [...left.slice(0, i), ...left.slice(i + 1)], length + dist(at, p))
  }
  go(dock, points, 0)
  return best
}

const routeLength = (points: ReadonlyArray<Point>) => {
  let at = { x: 0, y: 0 }
  let length = 0
  for (const p of points) {
    length += dist(at, p)
    at = p
  }
  return length + dist(at, { x: 0, y: 0 })
}

export const warehouse: Domain = {
  name: "warehouse",
  system:
    "You are a warehouse picking agent. Walking is measured in Manhattan distance from the dock at (0, 0). Pick each " +
    "order line from a single bin, then submit_result with the route (bins in visiting order) and its length.",
  maxLevel: 3,
  build: (rng: Rng, db) => {
    db.exec(
      "CREATE TABLE bins (id INTEGER PRIMARY KEY, aisle TEXT, x INTEGER, y INTEGER);" +
        "CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT, name TEXT);" +
        "CREATE TABLE stock (bin_id INTEGER, item_id INTEGER, qty INTEGER);" +
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT);" +
        "CREATE TABLE order_lines (order_id INTEGER, item_id INTEGER, qty INTEGER);" +
        "CREATE TABLE picks (order_id INTEGER, bin_id INTEGER, item_id INTEGER, qty INTEGER);",
    )
    const nb = rng.int(10, 18)
    for (let b = 1; b <= nb; b++)
      db.run("INSERT INTO bins VALUES (?, ?, ?, ?)", [b, `A${rng.int(1, 6)}`, rng.int(0, 20), rng.int(0, 20)])
    const ni = rng.int(6, 10)
    for (let i = 1; i <= ni; i++) {
      db.run("INSERT INTO items VALUES (?, ?, ?)", [i, `SKU-${1000 + i * 13}`, `part ${i}`])
      for (let k = rng.int(1, 4); k > 0; k--)
        db.run("INSERT INTO stock VALUES (?, ?, ?)", [rng.int(1, nb + 1), i, rng.int(0, 8)])
    }
    for (let o = 1; o <= 6; o++) {
      db.run("INSERT INTO orders VALUES (?, ?)", [o, `customer ${o}`])
      for (const i of rng.shuffle(Array.from({ length: ni }, (_, k) => k + 1)).slice(0, 3))
        db.run("INSERT INTO order_lines VALUES (?, ?, ?)", [o, i, rng.int(1, 4)])
    }
  },
  tools: [
    queryTool("get_order", "One order.", { order_id: s.int("Order id") }, "SELECT * FROM orders WHERE id = ?", true),
    queryTool(
      "list_order_lines",
      "Lines of an order (item_id, qty).",
      { order_id: s.int("Order id") },
      "SELECT item_id, qty FROM order_lines WHERE order_id = ? ORDER BY item_id",
    ),
    queryTool("get_item", "One item.", { item_id: s.int("Item id") }, "SELECT * FROM items WHERE id = ?", true),
    queryTool("find_item_by_sku", "An item by SKU.", { sku: s.str("SKU") }, "SELECT * FROM items WHERE sku = ?", true),
    queryTool(
      "list_bins_for_item",
      "Bins holding an item, with quantities.",
      { item_id: s.int("Item id") },
      "SELECT bin_id, qty FROM stock WHERE item_id = ? AND qty > 0 ORDER BY bin_id",
    ),
    queryTool(
      "get_bin",
      "A bin's aisle and coordinates.",
      { bin_id: s.int("Bin id") },
      "SELECT * FROM bins WHERE id = ?",
      true,
    ),
    queryTool(
      "list_stock_in_bin",
      "Everything stored in a bin.",
      { bin_id: s.int("Bin id") },
      "SELECT item_id, qty FROM stock WHERE bin_id = ? ORDER BY item_id",
    ),
    {
      name: "get_distance",
      description: "Manhattan distance between two bins (bin 0 is the dock).",
      parameters: s.obj({ from_bin: s.int("Bin id or 0", 0), to_bin: s.int("Bin id or 0", 0) }),
      run: ({ db }, args) => {
        const at = (id: number): Point =>
          id === 0
            ? { x: 0, y: 0 }
            : ((db.get("SELECT x, y FROM bins WHERE id = ?", [id]) as Point | undefined) ?? refuse(`no bin ${id}`))
        return { distance: dist(at(args.from_bin), at(args.to_bin)) }
      },
    },
    {
      name: "pick",
      description: "Take qty of an item from a bin for an order.",
      parameters: s.obj({
        order_id: s.int("Order id"),
        bin_id: s.int("Bin id"),
        item_id: s.int("Item id"),
        qty: s.int("Quantity", 1),
      }),
      run: ({ db }, args) => {
        const row = db.get("SELECT qty FROM stock WHERE bin_id = ? AND item_id = ? AND qty >= ?", [
          args.bin_id,
          args.item_id,
          args.qty,
        ])
        if (row === undefined) refuse("not enough of that item in that bin")
        db.run(
          "UPDATE stock SET qty = qty - ? WHERE rowid = (SELECT rowid FROM stock WHERE bin_id = ? AND item_id = ? AND qty >= ? LIMIT 1)",
          [args.qty, args.bin_id, args.item_id, args.qty],
        )
        db.run("INSERT INTO picks VALUES (?, ?, ?, ?)", [args.order_id, args.bin_id, args.item_id, args.qty])
        return { picked: args.qty }
      },
    },
    submitTool("The route (bin ids in visiting order, dock excluded) and its total length.", {
      route: s.ints("Bin ids"),
      distance: s.int("Length"),
    }),
  ],
  propose: (rng, truth, level) => {
    const order = rng.int(1, 7)
    const lines = truth
      .all("SELECT item_id, qty FROM order_lines WHERE order_id = ? ORDER BY item_id", [order])
      .slice(0, level)
    const options = lines.map((l) =>
      truth.all(
        "SELECT s.bin_id, b.x, b.y FROM stock s JOIN bins b ON b.id = s.bin_id WHERE s.item_id = ? AND s.qty >= ?",
        [l.item_id as number, l.qty as number],
      ),
    )
    if (options.some((o) => o.length === 0)) return undefined
    // The optimum over one bin per line (bins may coincide) and every visiting order.
    let best = Number.POSITIVE_INFINITY
    const choose = (i: number, chosen: Array<Record<string, unknown>>) => {
      if (i === options.length) {
        const unique = [...new Map(chosen.map((c) => [num(c, "bin_id"), { x: num(c, "x"), y: num(c, "y") }])).values()]
        best = Math.min(best, tour(unique))
        return
      }
      for (const o of options[i] ?? []) choose(i + 1, [...chosen, o])
    }
    choose(0, [])
    const limit = best
    const want = lines.map((l) => [num(l, "item_id"), num(l, "qty")] as const)
    const prompt =
      `Pick ${level === 1 ? "the first line" : `the first ${level} lines`} of order ${order} (lines sorted by item id) and walk a route from the dock ` +
      `through the bins you pick from and back, of total length at most ${limit}. Submit the route and its length.`
    return {
      prompt,
      verify: (answer, state) => {
        const a = asRecord(answer)
        const failures: Array<string> = []
        const picks = state.all("SELECT * FROM picks ORDER BY item_id")
        const got = picks.map((p) => [num(p, "item_id"), num(p, "qty")] as const)
        if (JSON.stringify(got) !== JSON.stringify(want) || picks.some((p) => num(p, "order_id") !== order))
          failures.push(`picks ${JSON.stringify(got)} != ${JSON.stringify(want)}`)
        if (state.get("SELECT 1 FROM stock WHERE qty < 0") !== undefined) failures.push("negative stock")
        const route = asNumbers(a.route)
        const bins = route.map((id) => state.get("SELECT x, y FROM bins WHERE id = ?", [id]) as Point | undefined)
        if (bins.some((b) => b === undefined)) return verdict([...failures, "route has unknown bins"])
        for (const p of picks) if (!route.includes(num(p, "bin_id"))) failures.push(`route skips bin ${p.bin_id}`)
        const length = routeLength(bins as Array<Point>)
        if (length > limit) failures.push(`route length ${length} > ${limit}`)
        if (Number(a.distance) !== length) failures.push(`submitted distance ${a.distance} != ${length}`)
        return verdict(failures)
      },
      solve: (call) => {
        const ls = (call("list_order_lines", { order_id: order }) as Array<{ item_id: number; qty: number }>).slice(
          0,
          level,
        )
        const coords = new Map<number, Point>()
        const opts = ls.map((l) =>
          (call("list_bins_for_item", { item_id: l.item_id }) as Array<{ bin_id: number; qty: number }>)
            .filter((b) => b.qty >= l.qty)
            .map((b) => {
              if (!coords.has(b.bin_id)) coords.set(b.bin_id, call("get_bin", { bin_id: b.bin_id }) as Point)
              return b.bin_id
            }),
        )
        let bestPlan: { bins: Array<number>; route: Array<number>; length: number } | undefined
        const perms = (xs: Array<number>): Array<Array<number>> =>
          xs.length <= 1
            ? [xs]
            : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]))
        const choose2 = (i: number, chosen: Array<number>) => {
          if (i === opts.length) {
            for (const route of perms([...new Set(chosen)])) {
              const length = routeLength(route.map((b) => coords.get(b) as Point))
              if (bestPlan === undefined || length < bestPlan.length) bestPlan = { bins: [...chosen], route, length }
            }
            return
          }
          for (const b of opts[i] ?? []) choose2(i + 1, [...chosen, b])
        }
        choose2(0, [])
        const plan = bestPlan!
        for (const [i, l] of ls.entries())
          call("pick", { order_id: order, bin_id: plan.bins[i], item_id: l.item_id, qty: l.qty })
        call("submit_result", { route: plan.route, distance: plan.length })
      },
    }
  },
}
