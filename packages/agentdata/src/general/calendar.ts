/**
 * Calendar scheduling (docs/agentdata.md §4.3): find the earliest common free slot for a group, book a room big
 * enough, and create the meeting. The verifier checks the meeting in the final state: attendees, length, no
 * overlap with any attendee's events or the room's bookings, room capacity, and that no earlier slot was free.
 */
import type { Rng } from "@ds/core"
import { refuse, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import type { Db } from "../env/sqlite.ts"
import { asRecord, type Domain, num, personName, pick, queryTool, submitTool } from "./domain.ts"

const OPEN = 9
const CLOSE = 18

const busy = (
  db: Db,
  people: ReadonlyArray<number>,
  room: number | undefined,
  day: number,
  start: number,
  end: number,
) =>
  people.some(
    (p) =>
      db.get(
        "SELECT 1 FROM attendance a JOIN events e ON e.id = a.event_id WHERE a.person_id = ? AND e.day = ? AND e.start < ? AND e.end > ?",
        [p, day, end, start],
      ) !== undefined,
  ) ||
  (room !== undefined &&
    db.get("SELECT 1 FROM events WHERE room_id = ? AND day = ? AND start < ? AND end > ?", [room, day, end, start]) !==
      undefined)

interface Goal {
  readonly people: ReadonlyArray<number>
  readonly names: ReadonlyArray<string>
  readonly days: ReadonlyArray<number>
  readonly hours: number
  readonly capacity: number
  readonly title: string
}

/** Earliest (day, hour) with every attendee free and, when a capacity is asked, some room free. */
const earliest = (db: Db, goal: Goal): { day: number; start: number; room: number | undefined } | undefined => {
  const rooms = db.all("SELECT id FROM rooms WHERE capacity >= ? ORDER BY id", [goal.capacity]).map((r) => Number(r.id))
  for (const day of goal.days)
    for (let start = OPEN; start + goal.hours <= CLOSE; start++) {
      if (busy(db, goal.people, undefined, day, start, start + goal.hours)) continue
      if (goal.capacity === 0) return { day, start, room: undefined }
      const room = rooms.find((r) => !busy(db, [], r, day, start, start + goal.hours))
      if (room !== undefined) return { day, start, room }
    }
  return undefined
}

export const calendar: Domain = {
  name: "calendar",
  system:
    `You are a scheduling assistant. Meetings start on the hour between ${OPEN}:00 and ${CLOSE}:00. Use the tools to ` +
    "read calendars and rooms, create the meeting, then submit_result with its id.",
  maxLevel: 3,
  build: (rng: Rng, db: Db) => {
    db.exec(
      "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, team TEXT);" +
        "CREATE TABLE rooms (id INTEGER PRIMARY KEY, name TEXT, capacity INTEGER);" +
        "CREATE TABLE events (id INTEGER PRIMARY KEY, title TEXT, day INTEGER, start INTEGER, end INTEGER, room_id INTEGER, created_by_task INTEGER DEFAULT 0);" +
        "CREATE TABLE attendance (event_id INTEGER, person_id INTEGER);",
    )
    const used = new Set<string>()
    const n = rng.int(6, 10)
    db.insert(
      "people",
      ["id", "name", "team"],
      Array.from({ length: n }, (_, i) => [i + 1, personName(rng, used), rng.choice(["infra", "ml", "sales", "ops"])]),
    )
    db.insert(
      "rooms",
      ["id", "name", "capacity"],
      Array.from({ length: rng.int(2, 5) }, (_, i) => [i + 1, `Room ${String.fromCharCode(65 + i)}`, rng.int(2, 9)]),
    )
    let id = 1
    for (let day = 1; day <= 5; day++)
      for (let k = rng.int(n, 3 * n); k > 0; k--) {
        const start = rng.int(OPEN, CLOSE - 1)
        const end = Math.min(CLOSE, start + rng.int(1, 3))
        db.run("INSERT INTO events (id, title, day, start, end, room_id) VALUES (?, ?, ?, ?, ?, ?)", [
          id,
          `busy ${id}`,
          day,
          start,
          end,
          rng.float() < 0.3 ? rng.int(1, 3) : null,
        ])
        db.run("INSERT INTO attendance VALUES (?, ?)", [id, rng.int(1, n + 1)])
        id++
      }
  },
  tools: [
    queryTool("list_people", "Everyone (id, name, team).", {}, "SELECT * FROM people ORDER BY id"),
    queryTool(
      "find_person",
      "Find a person by name.",
      { name: s.str("Full name") },
      "SELECT * FROM people WHERE name = ?",
      true,
    ),
    queryTool(
      "list_events",
      "A person's events on a day (start and end hours).",
      { person_id: s.int("Person id"), day: s.int("Day 1-5", 1) },
      "SELECT e.id, e.title, e.start, e.end FROM events e JOIN attendance a ON a.event_id = e.id WHERE a.person_id = ? AND e.day = ? ORDER BY e.start",
    ),
    queryTool("get_event", "One event.", { event_id: s.int("Event id") }, "SELECT * FROM events WHERE id = ?", true),
    queryTool(
      "list_event_attendees",
      "Attendees of an event.",
      { event_id: s.int("Event id") },
      "SELECT person_id FROM attendance WHERE event_id = ? ORDER BY person_id",
    ),
    queryTool("list_rooms", "Meeting rooms with capacities.", {}, "SELECT * FROM rooms ORDER BY id", false, 2),
    queryTool(
      "list_room_bookings",
      "A room's bookings on a day.",
      { room_id: s.int("Room id"), day: s.int("Day 1-5", 1) },
      "SELECT id, start, end FROM events WHERE room_id = ? AND day = ? ORDER BY start",
      false,
      2,
    ),
    {
      name: "create_meeting",
      description: "Create a meeting; refused if an attendee or the room is busy, or the room is too small.",
      parameters: s.obj(
        {
          title: s.str("Title"),
          day: s.int("Day 1-5", 1),
          start: s.int("Start hour"),
          end: s.int("End hour"),
          attendee_ids: s.ints("Person ids"),
          room_id: s.int("Room id (optional)"),
        },
        ["room_id"],
      ),
      run: ({ db }, args) => {
        const a = args as unknown as {
          title: string
          day: number
          start: number
          end: number
          attendee_ids: Array<number>
          room_id?: number
        }
        if (a.start < OPEN || a.end > CLOSE || a.end <= a.start) refuse(`hours must lie within ${OPEN}-${CLOSE}`)
        for (const p of a.attendee_ids)
          if (db.get("SELECT 1 FROM people WHERE id = ?", [p]) === undefined) refuse(`no person ${p}`)
        if (a.room_id !== undefined) {
          const room = db.get("SELECT capacity FROM rooms WHERE id = ?", [a.room_id]) ?? refuse(`no room ${a.room_id}`)
          if (num(room, "capacity") < a.attendee_ids.length) refuse("room too small")
        }
        if (busy(db, a.attendee_ids, a.room_id, a.day, a.start, a.end)) refuse("conflict with an existing event")
        const id = num(db.get("SELECT MAX(id) + 1 AS id FROM events"), "id")
        db.run(
          "INSERT INTO events (id, title, day, start, end, room_id, created_by_task) VALUES (?, ?, ?, ?, ?, ?, 1)",
          [id, a.title, a.day, a.start, a.end, a.room_id ?? null],
        )
        for (const p of a.attendee_ids) db.run("INSERT INTO attendance VALUES (?, ?)", [id, p])
        return { event_id: id }
      },
    },
    {
      name: "cancel_event",
      description: "Cancel an event you created.",
      parameters: s.obj({ event_id: s.int("Event id") }),
      run: ({ db }, args) => {
        if (db.run("DELETE FROM events WHERE id = ? AND created_by_task = 1", [args.event_id]) === 0)
          refuse("only events created in this session can be cancelled")
        db.run("DELETE FROM attendance WHERE event_id = ?", [args.event_id])
        return { cancelled: args.event_id }
      },
    },
    submitTool("The id of the meeting created.", { event_id: s.int("Event id") }),
  ],
  propose: (rng, truth, level) => {
    const people = pick(rng, truth.all("SELECT id, name FROM people"), level + 1)
    const first = rng.int(1, 4)
    const goal: Goal = {
      people: people.map((p) => Number(p.id)),
      names: people.map((p) => String(p.name)),
      days: level >= 3 ? [first, first + 1, first + 2] : [first],
      hours: level >= 3 ? 2 : 1,
      capacity: level >= 2 ? people.length : 0,
      title: rng.choice(["Design review", "Planning", "Retro", "Sync"]),
    }
    const slot = earliest(truth, goal)
    if (slot === undefined) return undefined
    const when = goal.days.length === 1 ? `on day ${goal.days[0]}` : `on one of days ${goal.days.join(", ")}`
    const prompt =
      `Schedule a ${goal.hours}-hour meeting "${goal.title}" for ${goal.names.join(", ")} ${when}, at the earliest hour ` +
      `when all are free${goal.capacity > 0 ? ", in a free room that seats everyone (the lowest-numbered such room)" : ""}. ` +
      "Create it and submit its id."
    return {
      prompt,
      verify: (answer, state) => {
        const failures: Array<string> = []
        const id = Number(asRecord(answer).event_id)
        const event = state.get("SELECT * FROM events WHERE id = ? AND created_by_task = 1", [id])
        if (event === undefined) return verdict([`no meeting ${id} was created`])
        const created = state.all("SELECT id FROM events WHERE created_by_task = 1")
        if (created.length !== 1) failures.push(`${created.length} meetings created, expected 1`)
        const attendees = state
          .all("SELECT person_id FROM attendance WHERE event_id = ? ORDER BY person_id", [id])
          .map((r) => Number(r.person_id))
        if (JSON.stringify(attendees) !== JSON.stringify([...goal.people].sort((a, b) => a - b)))
          failures.push("wrong attendees")
        if (num(event, "end") - num(event, "start") !== goal.hours) failures.push("wrong length")
        if (num(event, "day") !== slot.day || num(event, "start") !== slot.start)
          failures.push(`not the earliest slot (day ${slot.day} ${slot.start}:00)`)
        if (goal.capacity > 0 && num(event, "room_id") !== slot.room) failures.push(`room must be ${slot.room}`)
        return verdict(failures)
      },
      solve: (call) => {
        const ids = goal.names.map((name) => (call("find_person", { name }) as { id: number }).id)
        const rooms =
          goal.capacity > 0
            ? (call("list_rooms", {}) as Array<{ id: number; capacity: number }>).filter(
                (r) => r.capacity >= ids.length,
              )
            : []
        for (const day of goal.days) {
          const events = ids.flatMap(
            (person_id) => call("list_events", { person_id, day }) as Array<{ start: number; end: number }>,
          )
          const bookings = new Map(
            rooms.map((r) => [
              r.id,
              call("list_room_bookings", { room_id: r.id, day }) as Array<{ start: number; end: number }>,
            ]),
          )
          for (let start = OPEN; start + goal.hours <= CLOSE; start++) {
            const end = start + goal.hours
            if (events.some((e) => e.start < end && e.end > start)) continue
            const room = rooms.find((r) => !(bookings.get(r.id) ?? []).some((e) => e.start < end && e.end > start))
            if (goal.capacity > 0 && room === undefined) continue
            const args = {
              title: goal.title,
              day,
              start,
              end,
              attendee_ids: ids,
              ...(room === undefined ? {} : { room_id: room.id }),
            }
            const created = call("create_meeting", args) as { event_id: number }
            call("submit_result", { event_id: created.event_id })
            return
          }
        }
      },
    }
  },
}
