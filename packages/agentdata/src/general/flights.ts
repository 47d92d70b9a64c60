/**
 * Flight booking changes (docs/agentdata.md §4.4): move a booking to the cheapest flight on the same route that
 * meets the traveller's constraints (day window, earliest departure hour, cabin), paying the fare difference plus a
 * change fee. The verifier checks the final booking, both flights' seat counts and the amount charged.
 */
import type { Rng } from "@ds/core"
import { refuse, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import type { Db } from "../env/sqlite.ts"
import { asRecord, cents, type Domain, num, personName, queryTool, submitTool } from "./domain.ts"

const AIRPORTS = ["HGH", "PVG", "PEK", "CAN", "SZX", "CTU", "XIY", "KMG"]
const FEE = 50

interface Goal {
  readonly booking: number
  readonly traveller: string
  readonly days: ReadonlyArray<number>
  readonly after: number
  readonly cabin: string | undefined
  readonly target: number
  readonly charge: number
  readonly seats: ReadonlyArray<readonly [number, number]>
}

const candidates = (
  db: Db,
  origin: string,
  dest: string,
  goal: Omit<Goal, "target" | "charge" | "seats">,
  current: number,
) =>
  db
    .all("SELECT * FROM flights WHERE origin = ? AND dest = ? AND seats > 0 AND id != ? ORDER BY price, id", [
      origin,
      dest,
      current,
    ])
    .filter(
      (f) =>
        goal.days.includes(num(f, "day")) &&
        num(f, "dep_hour") >= goal.after &&
        (goal.cabin === undefined || f.cabin === goal.cabin),
    )

export const flights: Domain = {
  name: "flights",
  system:
    `You are an airline agent. Changing a booking costs a fee of ${FEE} plus the fare difference when the new fare is ` +
    "higher (no refund when lower). Use the tools, change the booking, then submit_result.",
  maxLevel: 3,
  build: (rng: Rng, db: Db) => {
    db.exec(
      "CREATE TABLE flights (id INTEGER PRIMARY KEY, code TEXT, origin TEXT, dest TEXT, day INTEGER, dep_hour INTEGER, cabin TEXT, price INTEGER, seats INTEGER);" +
        "CREATE TABLE travellers (id INTEGER PRIMARY KEY, name TEXT, tier TEXT);" +
        "CREATE TABLE bookings (id INTEGER PRIMARY KEY, traveller_id INTEGER, flight_id INTEGER, paid INTEGER, status TEXT, changed INTEGER DEFAULT 0);",
    )
    const airports = rng.shuffle(AIRPORTS).slice(0, 4)
    const rows: Array<Array<number | string>> = []
    let id = 1
    for (const a of airports)
      for (const b of airports)
        if (a !== b)
          for (let day = 1; day <= 4; day++)
            for (let k = rng.int(1, 4); k > 0; k--, id++)
              rows.push([
                id,
                `DS${100 + id}`,
                a,
                b,
                day,
                rng.int(6, 22),
                rng.choice(["economy", "economy", "business"]),
                rng.int(20, 120) * 5,
                rng.int(0, 6),
              ])
    db.insert("flights", ["id", "code", "origin", "dest", "day", "dep_hour", "cabin", "price", "seats"], rows)
    const used = new Set<string>()
    const travellers = Array.from({ length: rng.int(4, 8) }, (_, i) => [
      i + 1,
      personName(rng, used),
      rng.choice(["basic", "silver", "gold"]),
    ])
    db.insert("travellers", ["id", "name", "tier"], travellers)
    const bookings = travellers.map((t, i) => {
      const f = rng.choice(rows)
      return [i + 1, t[0] as number, f[0] as number, f[7] as number, "confirmed"]
    })
    db.insert("bookings", ["id", "traveller_id", "flight_id", "paid", "status"], bookings)
  },
  tools: [
    queryTool("list_airports", "Airports served.", {}, "SELECT DISTINCT origin AS code FROM flights ORDER BY 1"),
    queryTool(
      "find_traveller",
      "Find a traveller by name.",
      { name: s.str("Full name") },
      "SELECT * FROM travellers WHERE name = ?",
      true,
    ),
    queryTool(
      "list_bookings_by_traveller",
      "A traveller's bookings.",
      { traveller_id: s.int("Traveller id") },
      "SELECT * FROM bookings WHERE traveller_id = ? ORDER BY id",
    ),
    queryTool(
      "get_booking",
      "One booking.",
      { booking_id: s.int("Booking id") },
      "SELECT * FROM bookings WHERE id = ?",
      true,
    ),
    queryTool(
      "get_flight",
      "One flight.",
      { flight_id: s.int("Flight id") },
      "SELECT * FROM flights WHERE id = ?",
      true,
    ),
    queryTool(
      "search_flights",
      "Flights on a route and day (any seats).",
      { origin: s.str("Origin code"), dest: s.str("Destination code"), day: s.int("Day 1-4", 1) },
      "SELECT id, code, dep_hour, cabin, price, seats FROM flights WHERE origin = ? AND dest = ? AND day = ? ORDER BY dep_hour, id",
    ),
    queryTool("get_change_fee", "The change fee.", {}, `SELECT ${FEE} AS fee`, true),
    {
      name: "change_booking",
      description: "Move a booking to another flight on the same route with a free seat; returns the amount charged.",
      parameters: s.obj({ booking_id: s.int("Booking id"), new_flight_id: s.int("Flight id") }),
      run: ({ db }, args) => {
        const booking = db.get("SELECT * FROM bookings WHERE id = ?", [args.booking_id]) ?? refuse("no such booking")
        const old = db.get("SELECT * FROM flights WHERE id = ?", [booking.flight_id as number]) ?? refuse("bad booking")
        const next = db.get("SELECT * FROM flights WHERE id = ?", [args.new_flight_id]) ?? refuse("no such flight")
        if (old.origin !== next.origin || old.dest !== next.dest) refuse("the new flight must fly the same route")
        if (num(next, "seats") < 1) refuse("no seats left on that flight")
        if (next.id === old.id) refuse("already on that flight")
        const charge = FEE + Math.max(0, num(next, "price") - num(booking, "paid"))
        db.run("UPDATE flights SET seats = seats - 1 WHERE id = ?", [next.id as number])
        db.run("UPDATE flights SET seats = seats + 1 WHERE id = ?", [old.id as number])
        db.run("UPDATE bookings SET flight_id = ?, paid = MAX(paid, ?), changed = changed + 1 WHERE id = ?", [
          next.id as number,
          next.price as number,
          args.booking_id,
        ])
        return { charged: charge }
      },
    },
    {
      name: "cancel_booking",
      description: "Cancel a booking (no refund).",
      parameters: s.obj({ booking_id: s.int("Booking id") }),
      run: ({ db }, args) => {
        if (
          db.run("UPDATE bookings SET status = 'cancelled' WHERE id = ? AND status = 'confirmed'", [
            args.booking_id,
          ]) === 0
        )
          refuse("no confirmed booking with that id")
        return { cancelled: args.booking_id }
      },
    },
    submitTool("The booking, its new flight, and the amount charged.", {
      booking_id: s.int("Booking id"),
      flight_id: s.int("New flight id"),
      charged: s.num("Amount charged"),
    }),
  ],
  propose: (rng, truth, level) => {
    const booking = rng.choice(
      truth.all("SELECT b.*, t.name FROM bookings b JOIN travellers t ON t.id = b.traveller_id"),
    )
    const flight = truth.get("SELECT * FROM flights WHERE id = ?", [booking.flight_id as number])!
    const day = rng.int(1, 4)
    const base = {
      booking: num(booking, "id"),
      traveller: String(booking.name),
      days: level >= 3 ? [day, day + 1] : [day],
      after: level >= 2 ? rng.int(8, 16) : 0,
      cabin: level >= 3 ? rng.choice(["economy", "business"]) : undefined,
    }
    const found = candidates(truth, String(flight.origin), String(flight.dest), base, num(flight, "id"))
    const best = found[0]
    if (best === undefined || (found[1] !== undefined && found[1].price === best.price)) return undefined
    const goal: Goal = {
      ...base,
      target: num(best, "id"),
      charge: FEE + Math.max(0, num(best, "price") - num(booking, "paid")),
      seats: [
        [num(best, "id"), num(best, "seats") - 1],
        [num(flight, "id"), num(flight, "seats") + 1],
      ],
    }
    const prompt =
      `${goal.traveller} wants to move booking ${goal.booking} to the cheapest flight on the same route ` +
      `${goal.days.length === 1 ? `on day ${goal.days[0]}` : `on day ${goal.days[0]} or ${goal.days[1]}`}` +
      `${goal.after > 0 ? ` departing at ${goal.after}:00 or later` : ""}${goal.cabin ? ` in ${goal.cabin}` : ""} with a free seat. ` +
      "Change it and submit the booking id, the new flight id and the amount charged."
    return {
      prompt,
      verify: (answer, state) => {
        const a = asRecord(answer)
        const failures: Array<string> = []
        const b = state.get("SELECT * FROM bookings WHERE id = ?", [goal.booking])
        if (num(b, "flight_id") !== goal.target)
          failures.push(`booking is on flight ${b?.flight_id}, expected ${goal.target}`)
        if (num(b, "changed") !== 1) failures.push("the booking must be changed exactly once")
        for (const [id, seats] of goal.seats)
          if (num(state.get("SELECT seats FROM flights WHERE id = ?", [id]), "seats") !== seats)
            failures.push(`flight ${id} seats wrong`)
        if (Number(a.flight_id) !== goal.target || Number(a.booking_id) !== goal.booking)
          failures.push("submitted ids wrong")
        if (cents(Number(a.charged)) !== goal.charge) failures.push(`charged ${a.charged} != ${goal.charge}`)
        return verdict(failures)
      },
      solve: (call) => {
        const b = call("get_booking", { booking_id: goal.booking }) as { flight_id: number }
        const f = call("get_flight", { flight_id: b.flight_id }) as { origin: string; dest: string; id: number }
        const options = goal.days
          .flatMap(
            (d) =>
              call("search_flights", { origin: f.origin, dest: f.dest, day: d }) as Array<
                Record<string, number | string>
              >,
          )
          .filter(
            (x) =>
              Number(x.seats) > 0 &&
              Number(x.dep_hour) >= goal.after &&
              x.id !== f.id &&
              (goal.cabin === undefined || x.cabin === goal.cabin),
          )
          .sort((x, y) => Number(x.price) - Number(y.price) || Number(x.id) - Number(y.id))
        const pickFlight = options[0] as Record<string, number>
        const { charged } = call("change_booking", { booking_id: goal.booking, new_flight_id: pickFlight.id }) as {
          charged: number
        }
        call("submit_result", { booking_id: goal.booking, flight_id: pickFlight.id, charged })
      },
    }
  },
}
