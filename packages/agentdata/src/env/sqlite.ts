/**
 * The embedded database behind every environment (docs/agentdata.md §2): SQLite compiled to wasm (sql.js).
 *
 * An environment is built once into a database; its bytes (`image`) are the pristine state. Every rollout opens
 * its own database from those bytes, so no rollout can see another's writes. Queries go through `Db`, which
 * prepares, binds and frees statements, and gives rows as plain objects.
 */
import initSqlJs from "sql.js"

type SqlJs = Awaited<ReturnType<typeof initSqlJs>>
type SqlDatabase = InstanceType<SqlJs["Database"]>
export type SqlValue = number | string | null
export type Row = Record<string, SqlValue>

let loading: Promise<SqlJs> | undefined
let loaded: SqlJs | undefined

/** Loads the SQLite wasm module once per process. */
export const loadSqlite = (): Promise<SqlJs> => {
  loading ??= initSqlJs().then((module) => {
    loaded = module
    return module
  })
  return loading
}

const sqlite = (): SqlJs => {
  if (loaded === undefined) throw new Error("SQLite is not loaded: run loadSqlite() (or AgentRuntime.layer) first")
  return loaded
}

export class Db {
  private constructor(private readonly raw: SqlDatabase) {}

  /** An empty database. */
  static empty(): Db {
    return new Db(new (sqlite().Database)())
  }

  /** An independent database holding a copy of `image` (the bytes of `Db.image()`). */
  static open(image: Uint8Array): Db {
    return new Db(new (sqlite().Database)(image))
  }

  exec(sql: string): void {
    this.raw.run(sql)
  }

  run(sql: string, params: ReadonlyArray<SqlValue> = []): number {
    const statement = this.raw.prepare(sql)
    try {
      statement.run(params as Array<SqlValue>)
    } finally {
      statement.free()
    }
    return this.raw.getRowsModified()
  }

  all(sql: string, params: ReadonlyArray<SqlValue> = []): Array<Row> {
    const statement = this.raw.prepare(sql)
    const rows: Array<Row> = []
    try {
      statement.bind(params as Array<SqlValue>)
      while (statement.step()) rows.push(statement.getAsObject() as Row)
    } finally {
      statement.free()
    }
    return rows
  }

  get(sql: string, params: ReadonlyArray<SqlValue> = []): Row | undefined {
    return this.all(sql, params)[0]
  }

  /** Inserts many rows into `table` inside one transaction. */
  insert(table: string, columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): void {
    const statement = this.raw.prepare(
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
    )
    this.raw.run("BEGIN")
    try {
      for (const row of rows) statement.run(row as Array<SqlValue>)
      this.raw.run("COMMIT")
    } finally {
      statement.free()
    }
  }

  /** Registers a scalar SQL function (used for the search corpus' ranking). */
  fn(name: string, f: (...args: Array<never>) => SqlValue | Uint8Array): void {
    this.raw.create_function(name, f as never)
  }

  /** The database file's bytes: the pristine state an environment hands to each rollout. */
  image(): Uint8Array {
    return this.raw.export()
  }

  /**
   * The whole state as canonical text: every user table in name order, its rows by rowid, as JSON. Two databases
   * with the same content give the same dump whatever their page layout, so its hash names a state.
   */
  dump(): string {
    const tables = this.all(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE '%VIRTUAL%' " +
        "AND name NOT LIKE '%_content' AND name NOT LIKE '%_segments' AND name NOT LIKE '%_segdir' " +
        "AND name NOT LIKE '%_docsize' AND name NOT LIKE '%_stat' ORDER BY name",
    )
    const parts: Array<string> = []
    for (const { name } of tables) {
      const rows = this.raw.exec(`SELECT * FROM "${String(name)}" ORDER BY rowid`)
      parts.push(JSON.stringify([name, rows[0]?.values ?? []]))
    }
    return parts.join("\n")
  }

  close(): void {
    this.raw.close()
  }
}
