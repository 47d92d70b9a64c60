/**
 * Course timetabling (docs/agentdata.md §4.6): enrol a student in sections with free seats, no time clashes and
 * every prerequisite completed. The verifier checks the final enrolments against the rules and the request.
 */
import type { Rng } from "@ds/core"
import { refuse, verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import type { Db } from "../env/sqlite.ts"
import { type Domain, num, personName, queryTool, submitTool } from "./domain.ts"

const DEPTS = ["CS", "MATH", "PHYS", "BIO"]

const clash = (db: Db, student: number, section: Record<string, unknown>) =>
  db.get(
    "SELECT 1 FROM enrolments e JOIN sections x ON x.id = e.section_id WHERE e.student_id = ? AND x.weekday = ? AND x.start < ? AND x.end > ?",
    [student, section.weekday as string, section.end as number, section.start as number],
  ) !== undefined

const prereqsMet = (db: Db, student: number, course: number) =>
  db
    .all("SELECT prereq_id FROM prereqs WHERE course_id = ?", [course])
    .every(
      (p) =>
        db.get("SELECT 1 FROM completed WHERE student_id = ? AND course_id = ?", [student, p.prereq_id as number]) !==
        undefined,
    )

export const courses: Domain = {
  name: "courses",
  system:
    "You are a registrar's assistant. A student may enrol in a section only with a free seat, no time clash with " +
    "their other sections, and every prerequisite completed. Use the tools, then submit_result.",
  maxLevel: 3,
  build: (rng: Rng, db: Db) => {
    db.exec(
      "CREATE TABLE courses (id INTEGER PRIMARY KEY, code TEXT, dept TEXT, credits INTEGER);" +
        "CREATE TABLE prereqs (course_id INTEGER, prereq_id INTEGER);" +
        "CREATE TABLE sections (id INTEGER PRIMARY KEY, course_id INTEGER, weekday TEXT, start INTEGER, end INTEGER, seats INTEGER);" +
        "CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT);" +
        "CREATE TABLE completed (student_id INTEGER, course_id INTEGER);" +
        "CREATE TABLE enrolments (student_id INTEGER, section_id INTEGER);",
    )
    const n = rng.int(10, 16)
    let section = 1
    for (let c = 1; c <= n; c++) {
      const dept = rng.choice(DEPTS)
      db.run("INSERT INTO courses VALUES (?, ?, ?, ?)", [c, `${dept}${100 + c * 7}`, dept, rng.int(2, 6)])
      if (c > 3 && rng.float() < 0.5) db.run("INSERT INTO prereqs VALUES (?, ?)", [c, rng.int(1, c)])
      for (let k = rng.int(1, 4); k > 0; k--) {
        const start = rng.int(8, 17)
        db.run("INSERT INTO sections VALUES (?, ?, ?, ?, ?, ?)", [
          section++,
          c,
          rng.choice(["Mon", "Tue", "Wed", "Thu", "Fri"]),
          start,
          start + rng.int(1, 3),
          rng.int(0, 4),
        ])
      }
    }
    const used = new Set<string>()
    for (let st = 1; st <= rng.int(3, 7); st++) {
      db.run("INSERT INTO students VALUES (?, ?)", [st, personName(rng, used)])
      for (let c = 1; c <= n; c++) if (rng.float() < 0.3) db.run("INSERT INTO completed VALUES (?, ?)", [st, c])
    }
  },
  tools: [
    queryTool(
      "find_student",
      "Find a student by name.",
      { name: s.str("Full name") },
      "SELECT * FROM students WHERE name = ?",
      true,
    ),
    queryTool(
      "list_completed",
      "Courses a student has completed.",
      { student_id: s.int("Student id") },
      "SELECT course_id FROM completed WHERE student_id = ? ORDER BY course_id",
    ),
    queryTool(
      "list_courses_by_dept",
      "Courses of a department.",
      { dept: s.oneOf("Department", DEPTS) },
      "SELECT * FROM courses WHERE dept = ? ORDER BY id",
    ),
    queryTool(
      "get_course",
      "One course.",
      { course_id: s.int("Course id") },
      "SELECT * FROM courses WHERE id = ?",
      true,
    ),
    queryTool(
      "find_course_by_code",
      "A course by its code.",
      { code: s.str("Course code") },
      "SELECT * FROM courses WHERE code = ?",
      true,
    ),
    queryTool(
      "list_prereqs",
      "Prerequisites of a course.",
      { course_id: s.int("Course id") },
      "SELECT prereq_id FROM prereqs WHERE course_id = ? ORDER BY prereq_id",
    ),
    queryTool(
      "list_sections",
      "Sections of a course (weekday, hours, free seats).",
      { course_id: s.int("Course id") },
      "SELECT * FROM sections WHERE course_id = ? ORDER BY id",
    ),
    queryTool(
      "list_enrolments",
      "A student's current sections.",
      { student_id: s.int("Student id") },
      "SELECT x.* FROM enrolments e JOIN sections x ON x.id = e.section_id WHERE e.student_id = ? ORDER BY x.id",
    ),
    {
      name: "enrol",
      description: "Enrol a student in a section.",
      parameters: s.obj({ student_id: s.int("Student id"), section_id: s.int("Section id") }),
      run: ({ db }, args) => {
        const section = db.get("SELECT * FROM sections WHERE id = ?", [args.section_id]) ?? refuse("no such section")
        if (num(section, "seats") < 1) refuse("section is full")
        if (clash(db, args.student_id, section)) refuse("time clash with another section")
        if (!prereqsMet(db, args.student_id, num(section, "course_id"))) refuse("prerequisites not completed")
        db.run("INSERT INTO enrolments VALUES (?, ?)", [args.student_id, args.section_id])
        db.run("UPDATE sections SET seats = seats - 1 WHERE id = ?", [args.section_id])
        return { enrolled: args.section_id }
      },
    },
    {
      name: "drop",
      description: "Drop a section.",
      parameters: s.obj({ student_id: s.int("Student id"), section_id: s.int("Section id") }),
      run: ({ db }, args) => {
        if (
          db.run("DELETE FROM enrolments WHERE student_id = ? AND section_id = ?", [
            args.student_id,
            args.section_id,
          ]) === 0
        )
          refuse("not enrolled in that section")
        db.run("UPDATE sections SET seats = seats + 1 WHERE id = ?", [args.section_id])
        return { dropped: args.section_id }
      },
    },
    submitTool("The section ids the student is now enrolled in.", { section_ids: s.ints("Section ids") }),
  ],
  propose: (rng, truth, level) => {
    const student = rng.choice(truth.all("SELECT * FROM students"))
    const sid = num(student, "id")
    const eligible = truth
      .all("SELECT * FROM courses ORDER BY id")
      .filter(
        (c) =>
          prereqsMet(truth, sid, num(c, "id")) &&
          truth.get("SELECT 1 FROM completed WHERE student_id = ? AND course_id = ?", [sid, c.id as number]) ===
            undefined &&
          truth.get("SELECT 1 FROM sections WHERE course_id = ? AND seats > 0", [c.id as number]) !== undefined,
      )
    const want = rng.shuffle(eligible).slice(0, level)
    if (want.length < level) return undefined
    const codes = want.map((c) => String(c.code))
    // Feasible only if some clash-free choice of sections exists; the oracle's backtracking finds it.
    const sections = want.map((c) =>
      truth.all("SELECT * FROM sections WHERE course_id = ? AND seats > 0 ORDER BY id", [c.id as number]),
    )
    const overlaps = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      a.weekday === b.weekday && num(a, "start") < num(b, "end") && num(a, "end") > num(b, "start")
    const search = (i: number, chosen: Array<Record<string, unknown>>): Array<Record<string, unknown>> | undefined => {
      if (i === sections.length) return chosen
      for (const x of sections[i] ?? []) {
        if (chosen.some((y) => overlaps(x, y))) continue
        const found = search(i + 1, [...chosen, x])
        if (found !== undefined) return found
      }
      return undefined
    }
    if (search(0, []) === undefined) return undefined
    const prompt =
      `Enrol ${student.name} in ${codes.length === 1 ? `a section of ${codes[0]}` : `one section each of ${codes.join(", ")}, with no time clashes`}. ` +
      "Submit the section ids."
    return {
      prompt,
      verify: (answer, state) => {
        const failures: Array<string> = []
        const rows = state.all(
          "SELECT x.* FROM enrolments e JOIN sections x ON x.id = e.section_id WHERE e.student_id = ? ORDER BY x.id",
          [sid],
        )
        const courseIds = rows.map((r) => num(r, "course_id")).sort((a, b) => a - b)
        const wantIds = want.map((c) => num(c, "id")).sort((a, b) => a - b)
        if (JSON.stringify(courseIds) !== JSON.stringify(wantIds))
          failures.push(`enrolled in courses ${courseIds.join(",")}, expected ${wantIds.join(",")}`)
        for (const a of rows)
          for (const b of rows) if (a !== b && overlaps(a, b)) failures.push(`sections ${a.id} and ${b.id} clash`)
        for (const r of rows) if (num(r, "seats") < 0) failures.push(`section ${r.id} overbooked`)
        const submitted = ((answer as { section_ids?: Array<number> })?.section_ids ?? []).slice().sort((a, b) => a - b)
        if (JSON.stringify(submitted) !== JSON.stringify(rows.map((r) => num(r, "id"))))
          failures.push("submitted sections differ from the enrolments")
        return verdict(failures)
      },
      solve: (call) => {
        const st = call("find_student", { name: String(student.name) }) as { id: number }
        const options = codes.map((code) => {
          const c = call("find_course_by_code", { code }) as { id: number }
          return (call("list_sections", { course_id: c.id }) as Array<Record<string, unknown>>).filter(
            (x) => num(x, "seats") > 0,
          )
        })
        const choose = (
          i: number,
          chosen: Array<Record<string, unknown>>,
        ): Array<Record<string, unknown>> | undefined => {
          if (i === options.length) return chosen
          for (const x of options[i] ?? []) {
            if (chosen.some((y) => overlaps(x, y))) continue
            const found = choose(i + 1, [...chosen, x])
            if (found !== undefined) return found
          }
          return undefined
        }
        const plan = choose(0, []) ?? []
        for (const x of plan) call("enrol", { student_id: st.id, section_id: num(x, "id") })
        call("submit_result", { section_ids: plan.map((x) => num(x, "id")) })
      },
    }
  },
}
