/**
 * Trip planning (docs/agentdata.md §4.1), after the paper's example: a multi-day itinerary from a start city with
 * no repeated city, hotel, restaurant or attraction; each day's hotel, restaurant and attraction in that day's city;
 * consecutive cities joined by a transport link; a total budget; rating floors; and a rating rule conditional on
 * the hotel's price. Hard to solve (the search is over city paths × hotel × restaurant × attraction), easy to verify
 * (a constraint check per day).
 */
import type { Rng } from "@ds/core"
import { verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import type { Db } from "../env/sqlite.ts"
import { asRecord, cents, type Domain, num, queryTool, submitTool } from "./domain.ts"

const CITIES = [
  "Hangzhou",
  "Suzhou",
  "Nanjing",
  "Wuxi",
  "Ningbo",
  "Shaoxing",
  "Huzhou",
  "Jiaxing",
  "Changzhou",
  "Yangzhou",
  "Zhoushan",
  "Jinhua",
  "Taizhou",
  "Wenzhou",
  "Lishui",
  "Quzhou",
]
const CUISINES = ["Zhejiang", "Sichuan", "Cantonese", "Hunan", "Jiangsu", "vegetarian"]

interface Stop {
  readonly city: string
  readonly hotel_id: number
  readonly restaurant_id: number
  readonly attraction_id: number
}

interface Rules {
  readonly start: string
  readonly days: number
  readonly budget: number
  readonly minAttraction: number
  /** Level 3: if the hotel costs more than `price`, the restaurant must rate >= `high`, else >= `low`. */
  readonly conditional?: { readonly price: number; readonly high: number; readonly low: number }
}

const dayCost = (db: Db, stop: Stop): number =>
  num(db.get("SELECT price FROM hotels WHERE id = ?", [stop.hotel_id]), "price") +
  num(db.get("SELECT price FROM restaurants WHERE id = ?", [stop.restaurant_id]), "price") +
  num(db.get("SELECT ticket FROM attractions WHERE id = ?", [stop.attraction_id]), "ticket")

const describe = (rules: Rules): string => {
  const lines = [
    `Plan a ${rules.days}-day trip starting in ${rules.start}. Each day stay in one city: pick one hotel, one ` +
      `restaurant and one attraction in that city. Never visit a city twice; no hotel, restaurant or attraction ` +
      `may repeat.`,
  ]
  if (rules.days > 1) lines.push("Consecutive days' cities must be connected by a direct transport link.")
  lines.push(
    `The total cost (hotel prices + restaurant prices + attraction tickets${rules.days > 1 ? " + transport" : ""}) ` +
      `must be at most ${rules.budget}.`,
  )
  if (rules.minAttraction > 0) lines.push(`Every attraction must be rated at least ${rules.minAttraction}.`)
  if (rules.conditional !== undefined) {
    const c = rules.conditional
    lines.push(
      `If a day's hotel costs more than ${c.price}, that day's restaurant must be rated at least ${c.high}; ` +
        `otherwise at least ${c.low}.`,
    )
  }
  lines.push("Submit the itinerary with submit_result, days in order.")
  return lines.join(" ")
}

const check = (rules: Rules, answer: unknown, db: Db): Array<string> => {
  const failures: Array<string> = []
  const plan = asRecord(answer).itinerary
  if (!Array.isArray(plan) || plan.length !== rules.days) return [`itinerary must list exactly ${rules.days} days`]
  const seen = new Set<string>()
  let total = 0
  let previous: string | undefined
  for (const [d, raw] of plan.entries()) {
    const stop = asRecord(raw) as unknown as Stop
    const hotel = db.get("SELECT * FROM hotels WHERE id = ?", [stop.hotel_id ?? -1])
    const restaurant = db.get("SELECT * FROM restaurants WHERE id = ?", [stop.restaurant_id ?? -1])
    const attraction = db.get("SELECT * FROM attractions WHERE id = ?", [stop.attraction_id ?? -1])
    if (hotel === undefined || restaurant === undefined || attraction === undefined) {
      failures.push(`day ${d + 1}: unknown hotel, restaurant or attraction`)
      continue
    }
    if (d === 0 && stop.city !== rules.start) failures.push(`day 1 must be in ${rules.start}`)
    for (const [kind, row] of [
      ["hotel", hotel],
      ["restaurant", restaurant],
      ["attraction", attraction],
    ] as const) {
      if (row.city !== stop.city) failures.push(`day ${d + 1}: ${kind} ${row.id} is not in ${stop.city}`)
      const key = `${kind}:${row.id}`
      if (seen.has(key)) failures.push(`day ${d + 1}: ${kind} ${row.id} repeats`)
      seen.add(key)
    }
    if (seen.has(`city:${stop.city}`)) failures.push(`day ${d + 1}: city ${stop.city} repeats`)
    seen.add(`city:${stop.city}`)
    if (num(attraction, "rating") < rules.minAttraction) failures.push(`day ${d + 1}: attraction rated too low`)
    const c = rules.conditional
    if (c !== undefined) {
      const floor = num(hotel, "price") > c.price ? c.high : c.low
      if (num(restaurant, "rating") < floor) failures.push(`day ${d + 1}: restaurant must be rated >= ${floor}`)
    }
    total += dayCost(db, stop)
    if (previous !== undefined) {
      const link = db.get("SELECT cost FROM transport WHERE origin = ? AND dest = ?", [previous, stop.city])
      if (link === undefined) failures.push(`day ${d + 1}: no transport from ${previous} to ${stop.city}`)
      else total += num(link, "cost")
    }
    previous = stop.city
  }
  if (cents(total) > rules.budget) failures.push(`total cost ${cents(total)} exceeds the budget ${rules.budget}`)
  return failures
}

/** The oracle: depth-first over city paths, the cheapest valid (hotel, restaurant, attraction) per city. */
const solve = (rules: Rules) => (call: (name: string, args: Record<string, unknown>) => unknown) => {
  type Row = Record<string, number | string>
  const cache = new Map<string, { stop: Stop; cost: number } | undefined>()
  const bestDay = (city: string) => {
    if (cache.has(city)) return cache.get(city)
    const hotels = call("list_hotels_by_city", { city }) as Array<Row>
    const restaurants = call("list_restaurants_by_city", { city }) as Array<Row>
    const attractions = (call("list_attractions_by_city", { city }) as Array<Row>).filter(
      (a) => Number(a.rating) >= rules.minAttraction,
    )
    let best: { stop: Stop; cost: number } | undefined
    for (const h of hotels)
      for (const r of restaurants) {
        const c = rules.conditional
        if (c !== undefined && Number(r.rating) < (Number(h.price) > c.price ? c.high : c.low)) continue
        for (const a of attractions) {
          const cost = Number(h.price) + Number(r.price) + Number(a.ticket)
          if (best === undefined || cost < best.cost)
            best = {
              stop: { city, hotel_id: Number(h.id), restaurant_id: Number(r.id), attraction_id: Number(a.id) },
              cost,
            }
        }
      }
    cache.set(city, best)
    return best
  }
  const links = new Map<string, Array<Row>>()
  const from = (city: string) => {
    if (!links.has(city)) links.set(city, call("list_transport_from", { city }) as Array<Row>)
    return links.get(city) as Array<Row>
  }
  let best: { plan: Array<Stop>; cost: number } | undefined
  const walk = (plan: Array<Stop>, cost: number) => {
    if (best !== undefined && cost >= best.cost) return
    if (plan.length === rules.days) {
      best = { plan: [...plan], cost }
      return
    }
    const last = plan[plan.length - 1] as Stop
    for (const link of from(last.city)) {
      const city = String(link.dest)
      if (plan.some((p) => p.city === city)) continue
      const day = bestDay(city)
      if (day === undefined) continue
      plan.push(day.stop)
      walk(plan, cost + day.cost + Number(link.cost))
      plan.pop()
    }
  }
  const first = bestDay(rules.start)
  if (first !== undefined) walk([first.stop], first.cost)
  call("submit_result", { itinerary: best?.plan ?? [] })
}

export const trip: Domain = {
  name: "trip",
  system:
    "You are a travel-planning agent. Use the tools to look up cities, hotels, restaurants, attractions and " +
    "transport; the tools are your only source of facts. Call submit_result exactly once with the final plan.",
  maxLevel: 3,
  build: (rng: Rng, db: Db) => {
    db.exec(
      "CREATE TABLE cities (name TEXT PRIMARY KEY, province TEXT);" +
        "CREATE TABLE hotels (id INTEGER PRIMARY KEY, name TEXT, city TEXT, price INTEGER, rating REAL);" +
        "CREATE TABLE restaurants (id INTEGER PRIMARY KEY, name TEXT, city TEXT, cuisine TEXT, price INTEGER, rating REAL);" +
        "CREATE TABLE attractions (id INTEGER PRIMARY KEY, name TEXT, city TEXT, ticket INTEGER, rating REAL);" +
        "CREATE TABLE transport (origin TEXT, dest TEXT, mode TEXT, cost INTEGER, hours REAL);" +
        "CREATE TABLE weather (city TEXT, day INTEGER, forecast TEXT);",
    )
    const cities = rng.shuffle(CITIES).slice(0, rng.int(7, 11))
    db.insert(
      "cities",
      ["name", "province"],
      cities.map((c) => [c, rng.choice(["Zhejiang", "Jiangsu"])]),
    )
    const rating = () => Math.round((3 + rng.float() * 2) * 10) / 10
    let id = 1
    const hotels: Array<Array<number | string>> = []
    const restaurants: Array<Array<number | string>> = []
    const attractions: Array<Array<number | string>> = []
    for (const city of cities) {
      for (let i = rng.int(2, 5); i > 0; i--)
        hotels.push([id++, `${city} Hotel ${i}`, city, rng.int(8, 40) * 10, rating()])
      for (let i = rng.int(2, 5); i > 0; i--)
        restaurants.push([id++, `${city} Kitchen ${i}`, city, rng.choice(CUISINES), rng.int(2, 16) * 5, rating()])
      for (let i = rng.int(2, 5); i > 0; i--)
        attractions.push([id++, `${city} Sight ${i}`, city, rng.int(0, 13) * 5, rating()])
    }
    db.insert("hotels", ["id", "name", "city", "price", "rating"], hotels)
    db.insert("restaurants", ["id", "name", "city", "cuisine", "price", "rating"], restaurants)
    db.insert("attractions", ["id", "name", "city", "ticket", "rating"], attractions)
    const transport: Array<Array<number | string>> = []
    for (const a of cities)
      for (const b of cities)
        if (a < b && rng.float() < 0.45) {
          const cost = rng.int(4, 30) * 5
          const mode = rng.choice(["train", "bus", "flight"])
          const hours = Math.round((0.5 + rng.float() * 4) * 10) / 10
          transport.push([a, b, mode, cost, hours], [b, a, mode, cost, hours])
        }
    db.insert("transport", ["origin", "dest", "mode", "cost", "hours"], transport)
    const weather: Array<Array<number | string>> = []
    for (const city of cities)
      for (let day = 1; day <= 3; day++) weather.push([city, day, rng.choice(["sunny", "cloudy", "rain"])])
    db.insert("weather", ["city", "day", "forecast"], weather)
  },
  tools: [
    queryTool(
      "list_cities",
      "List every city with its province.",
      {},
      "SELECT name, province FROM cities ORDER BY name",
    ),
    queryTool(
      "list_hotels_by_city",
      "List the hotels in a city (id, name, price per night, rating).",
      { city: s.str("City name") },
      "SELECT id, name, price, rating FROM hotels WHERE city = ? ORDER BY id",
    ),
    queryTool(
      "list_restaurants_by_city",
      "List the restaurants in a city (id, name, cuisine, price per person, rating).",
      { city: s.str("City name") },
      "SELECT id, name, cuisine, price, rating FROM restaurants WHERE city = ? ORDER BY id",
    ),
    queryTool(
      "list_attractions_by_city",
      "List the attractions in a city (id, name, ticket price, rating).",
      { city: s.str("City name") },
      "SELECT id, name, ticket, rating FROM attractions WHERE city = ? ORDER BY id",
    ),
    queryTool(
      "get_hotel_info",
      "Details of one hotel.",
      { id: s.int("Hotel id") },
      "SELECT * FROM hotels WHERE id = ?",
      true,
    ),
    queryTool(
      "get_restaurant_info",
      "Details of one restaurant.",
      { id: s.int("Restaurant id") },
      "SELECT * FROM restaurants WHERE id = ?",
      true,
    ),
    queryTool(
      "get_attraction_info",
      "Details of one attraction.",
      { id: s.int("Attraction id") },
      "SELECT * FROM attractions WHERE id = ?",
      true,
    ),
    queryTool(
      "get_city_by_hotel",
      "Reverse lookup: the city a hotel is in.",
      { id: s.int("Hotel id") },
      "SELECT city FROM hotels WHERE id = ?",
      true,
    ),
    queryTool(
      "get_city_by_restaurant",
      "Reverse lookup: the city a restaurant is in.",
      { id: s.int("Restaurant id") },
      "SELECT city FROM restaurants WHERE id = ?",
      true,
    ),
    queryTool(
      "get_city_by_attraction",
      "Reverse lookup: the city an attraction is in.",
      { id: s.int("Attraction id") },
      "SELECT city FROM attractions WHERE id = ?",
      true,
    ),
    queryTool(
      "list_transport_from",
      "Direct transport links leaving a city (dest, mode, cost, hours).",
      { city: s.str("City name") },
      "SELECT dest, mode, cost, hours FROM transport WHERE origin = ? ORDER BY dest",
      false,
      2,
    ),
    queryTool(
      "get_transport",
      "The direct transport link between two cities, if any.",
      { origin: s.str("From city"), dest: s.str("To city") },
      "SELECT origin, dest, mode, cost, hours FROM transport WHERE origin = ? AND dest = ?",
      true,
      2,
    ),
    queryTool(
      "get_weather",
      "Forecast for a city on trip day 1-3.",
      { city: s.str("City name"), day: s.int("Trip day", 1) },
      "SELECT forecast FROM weather WHERE city = ? AND day = ?",
      true,
    ),
    submitTool("The itinerary: one entry per day, in order.", {
      itinerary: {
        type: "array",
        description: "Days in order",
        items: s.obj({
          city: s.str("City of the day"),
          hotel_id: s.int("Hotel id"),
          restaurant_id: s.int("Restaurant id"),
          attraction_id: s.int("Attraction id"),
        }),
      },
    }),
  ],
  propose: (rng, truth, level) => {
    // Plant a feasible itinerary: a random path, random picks, then budget and floors that it meets.
    const days = level
    const cities = truth.all("SELECT name FROM cities").map((r) => String(r.name))
    const start = rng.choice(cities)
    const path = [start]
    while (path.length < days) {
      const next = truth
        .all("SELECT dest FROM transport WHERE origin = ?", [path[path.length - 1] as string])
        .map((r) => String(r.dest))
        .filter((c) => !path.includes(c))
      if (next.length === 0) return undefined
      path.push(rng.choice(next))
    }
    const planted: Array<Stop> = path.map((city) => ({
      city,
      hotel_id: num(rng.choice(truth.all("SELECT id FROM hotels WHERE city = ?", [city])), "id"),
      restaurant_id: num(rng.choice(truth.all("SELECT id FROM restaurants WHERE city = ?", [city])), "id"),
      attraction_id: num(rng.choice(truth.all("SELECT id FROM attractions WHERE city = ?", [city])), "id"),
    }))
    let cost = planted.reduce((sum, stop) => sum + dayCost(truth, stop), 0)
    for (let i = 1; i < path.length; i++)
      cost += num(
        truth.get("SELECT cost FROM transport WHERE origin = ? AND dest = ?", [
          path[i - 1] as string,
          path[i] as string,
        ]),
        "cost",
      )
    const attractionFloor = Math.min(
      ...planted.map((p) => num(truth.get("SELECT rating FROM attractions WHERE id = ?", [p.attraction_id]), "rating")),
    )
    let conditional: Rules["conditional"]
    if (level >= 3) {
      const price = rng.int(15, 30) * 10
      const floors = planted.map((p) => ({
        high: num(truth.get("SELECT price FROM hotels WHERE id = ?", [p.hotel_id]), "price") > price,
        rating: num(truth.get("SELECT rating FROM restaurants WHERE id = ?", [p.restaurant_id]), "rating"),
      }))
      const low = Math.min(3.5, ...floors.filter((f) => !f.high).map((f) => f.rating))
      const high = Math.min(4.2, ...floors.filter((f) => f.high).map((f) => f.rating))
      conditional = { price, high: Math.max(low, high), low }
      if (floors.some((f) => f.rating < (f.high ? conditional!.high : conditional!.low))) return undefined
    }
    const rules: Rules = {
      start,
      days,
      budget: cost + rng.int(0, 4) * 10,
      minAttraction: level >= 2 ? Math.min(attractionFloor, 4) : 0,
      ...(conditional === undefined ? {} : { conditional }),
    }
    return {
      prompt: describe(rules),
      solve: solve(rules),
      verify: (answer, state) => verdict(check(rules, answer, state)),
    }
  },
}
