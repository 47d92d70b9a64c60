/**
 * The subset of JSON Schema that tool parameters use (docs/agentdata.md §2): object / string / integer / number /
 * boolean / array, `properties`, `required`, `enum`, `items`, `minimum`, `maximum`, `additionalProperties: false`.
 * `validate` returns the first violation as a sentence the model can act on, or undefined when the value conforms.
 */
export interface JsonSchema {
  readonly type: "object" | "string" | "integer" | "number" | "boolean" | "array"
  readonly description?: string
  readonly properties?: Readonly<Record<string, JsonSchema>>
  readonly required?: ReadonlyArray<string>
  readonly additionalProperties?: boolean
  readonly enum?: ReadonlyArray<string | number>
  readonly items?: JsonSchema
  readonly minimum?: number
  readonly maximum?: number
}

const kind = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : Number.isInteger(value) ? "integer" : typeof value

export const validate = (schema: JsonSchema, value: unknown, at = "arguments"): string | undefined => {
  const actual = kind(value)
  const matches = schema.type === actual || (schema.type === "number" && (actual === "integer" || actual === "number"))
  if (!matches) return `${at} must be ${schema.type === "integer" ? "an integer" : `a ${schema.type}`}, got ${actual}`
  if (schema.enum !== undefined && !schema.enum.includes(value as string | number)) {
    return `${at} must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) return `${at} must be >= ${schema.minimum}`
    if (schema.maximum !== undefined && value > schema.maximum) return `${at} must be <= ${schema.maximum}`
  }
  if (schema.type === "array" && schema.items !== undefined) {
    const items = value as ReadonlyArray<unknown>
    for (let i = 0; i < items.length; i++) {
      const problem = validate(schema.items, items[i], `${at}[${i}]`)
      if (problem !== undefined) return problem
    }
  }
  if (schema.type === "object") {
    const record = value as Record<string, unknown>
    for (const name of schema.required ?? []) {
      if (!(name in record)) return `${at}.${name} is required`
    }
    for (const [name, field] of Object.entries(record)) {
      const property = schema.properties?.[name]
      if (property === undefined) {
        if (schema.additionalProperties === false) return `${at}.${name} is not a known parameter`
        continue
      }
      const problem = validate(property, field, `${at}.${name}`)
      if (problem !== undefined) return problem
    }
  }
  return undefined
}

/** Shorthands for tool parameter schemas. */
export const s = {
  str: (description: string): JsonSchema => ({ type: "string", description }),
  int: (description: string, minimum?: number): JsonSchema =>
    minimum === undefined ? { type: "integer", description } : { type: "integer", description, minimum },
  num: (description: string): JsonSchema => ({ type: "number", description }),
  strs: (description: string): JsonSchema => ({ type: "array", description, items: { type: "string" } }),
  ints: (description: string): JsonSchema => ({ type: "array", description, items: { type: "integer" } }),
  oneOf: (description: string, values: ReadonlyArray<string>): JsonSchema => ({
    type: "string",
    description,
    enum: values,
  }),
  /** An object schema with every listed property required and no others allowed. */
  obj: (properties: Record<string, JsonSchema>, optional: ReadonlyArray<string> = []): JsonSchema => ({
    type: "object",
    properties,
    required: Object.keys(properties).filter((name) => !optional.includes(name)),
    additionalProperties: false,
  }),
}
