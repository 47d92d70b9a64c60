/**
 * Recipes under nutrition limits (docs/agentdata.md §4.7): choose a set of recipes from distinct cuisines whose
 * summed calories stay under a cap and protein reaches a floor, avoiding an allergen and a time budget. Nutrition
 * is per ingredient, so the agent must aggregate. The verifier recomputes every sum from the database.
 */
import type { Rng } from "@ds/core"
import { verdict } from "../env/environment.ts"
import { s } from "../env/json-schema.ts"
import type { Db } from "../env/sqlite.ts"
import { asNumbers, asRecord, type Domain, num, queryTool, submitTool } from "./domain.ts"

const CUISINES = ["Italian", "Japanese", "Mexican", "Indian", "Thai", "Greek"]
const ALLERGENS = ["none", "none", "nuts", "dairy", "gluten", "shellfish"]

const nutrition = (db: Db, recipe: number) => {
  const row = db.get(
    "SELECT SUM(i.kcal * r.grams / 100.0) AS kcal, SUM(i.protein * r.grams / 100.0) AS protein FROM recipe_ingredients r JOIN ingredients i ON i.id = r.ingredient_id WHERE r.recipe_id = ?",
    [recipe],
  )
  return { kcal: Math.round(num(row, "kcal")), protein: Math.round(num(row, "protein")) }
}

interface Rules {
  readonly n: number
  readonly kcal: number
  readonly protein: number
  readonly avoid: string | undefined
  readonly minutes: number | undefined
}

const check = (rules: Rules, answer: unknown, db: Db): Array<string> => {
  const ids = asNumbers(asRecord(answer).recipe_ids)
  if (ids.length !== rules.n || new Set(ids).size !== rules.n) return [`choose ${rules.n} distinct recipes`]
  const failures: Array<string> = []
  const rows = ids.map((id) => db.get("SELECT * FROM recipes WHERE id = ?", [id]))
  if (rows.some((r) => r === undefined)) return ["unknown recipe id"]
  if (new Set(rows.map((r) => r?.cuisine)).size !== rules.n) failures.push("cuisines must differ")
  const total = ids
    .map((id) => nutrition(db, id))
    .reduce((a, b) => ({ kcal: a.kcal + b.kcal, protein: a.protein + b.protein }))
  if (total.kcal > rules.kcal) failures.push(`calories ${total.kcal} > ${rules.kcal}`)
  if (total.protein < rules.protein) failures.push(`protein ${total.protein} < ${rules.protein}`)
  if (rules.minutes !== undefined && rows.reduce((sum, r) => sum + num(r, "minutes"), 0) > rules.minutes)
    failures.push("too slow to cook")
  if (rules.avoid !== undefined)
    for (const id of ids)
      if (
        db.get(
          "SELECT 1 FROM recipe_ingredients r JOIN ingredients i ON i.id = r.ingredient_id WHERE r.recipe_id = ? AND i.allergen = ?",
          [id, rules.avoid],
        )
      )
        failures.push(`recipe ${id} contains ${rules.avoid}`)
  return failures
}

export const recipes: Domain = {
  name: "recipes",
  system:
    "You are a meal-planning assistant. Nutrition facts are per 100 g of each ingredient. Use the tools, then submit_result.",
  maxLevel: 3,
  build: (rng: Rng, db: Db) => {
    db.exec(
      "CREATE TABLE ingredients (id INTEGER PRIMARY KEY, name TEXT, kcal INTEGER, protein INTEGER, allergen TEXT);" +
        "CREATE TABLE recipes (id INTEGER PRIMARY KEY, name TEXT, cuisine TEXT, minutes INTEGER);" +
        "CREATE TABLE recipe_ingredients (recipe_id INTEGER, ingredient_id INTEGER, grams INTEGER);",
    )
    const ni = rng.int(12, 20)
    for (let i = 1; i <= ni; i++)
      db.run("INSERT INTO ingredients VALUES (?, ?, ?, ?, ?)", [
        i,
        `ingredient ${i}`,
        rng.int(20, 600),
        rng.int(0, 30),
        rng.choice(ALLERGENS),
      ])
    for (let r = 1; r <= rng.int(10, 18); r++) {
      const cuisine = rng.choice(CUISINES)
      db.run("INSERT INTO recipes VALUES (?, ?, ?, ?)", [r, `${cuisine} dish ${r}`, cuisine, rng.int(2, 13) * 5])
      for (const i of rng.shuffle(Array.from({ length: ni }, (_, k) => k + 1)).slice(0, rng.int(2, 5)))
        db.run("INSERT INTO recipe_ingredients VALUES (?, ?, ?)", [r, i, rng.int(2, 21) * 10])
    }
  },
  tools: [
    queryTool("list_cuisines", "Cuisines with recipes.", {}, "SELECT DISTINCT cuisine FROM recipes ORDER BY cuisine"),
    queryTool("list_recipes", "Every recipe (id, name, cuisine, minutes).", {}, "SELECT * FROM recipes ORDER BY id"),
    queryTool(
      "list_recipes_by_cuisine",
      "Recipes of a cuisine.",
      { cuisine: s.str("Cuisine") },
      "SELECT * FROM recipes WHERE cuisine = ? ORDER BY id",
    ),
    queryTool(
      "get_recipe",
      "One recipe.",
      { recipe_id: s.int("Recipe id") },
      "SELECT * FROM recipes WHERE id = ?",
      true,
    ),
    queryTool(
      "list_recipe_ingredients",
      "Ingredients of a recipe with grams.",
      { recipe_id: s.int("Recipe id") },
      "SELECT ingredient_id, grams FROM recipe_ingredients WHERE recipe_id = ? ORDER BY ingredient_id",
    ),
    queryTool(
      "get_ingredient",
      "Nutrition per 100 g and allergen of an ingredient.",
      { ingredient_id: s.int("Ingredient id") },
      "SELECT * FROM ingredients WHERE id = ?",
      true,
    ),
    queryTool(
      "search_recipes_by_ingredient",
      "Recipes using an ingredient.",
      { ingredient_id: s.int("Ingredient id") },
      "SELECT recipe_id FROM recipe_ingredients WHERE ingredient_id = ? ORDER BY recipe_id",
    ),
    queryTool(
      "list_allergens",
      "Allergen labels in use.",
      {},
      "SELECT DISTINCT allergen FROM ingredients ORDER BY allergen",
    ),
    queryTool(
      "list_ingredients_by_allergen",
      "Ingredients with an allergen.",
      { allergen: s.str("Allergen") },
      "SELECT id, name FROM ingredients WHERE allergen = ? ORDER BY id",
      false,
      3,
    ),
    submitTool("The chosen recipe ids.", { recipe_ids: s.ints("Recipe ids") }),
  ],
  propose: (rng, truth, level) => {
    const all = truth.all("SELECT * FROM recipes ORDER BY id")
    const byCuisine = new Map<string, Array<Record<string, unknown>>>()
    for (const r of all) byCuisine.set(String(r.cuisine), [...(byCuisine.get(String(r.cuisine)) ?? []), r])
    if (byCuisine.size < level) return undefined
    const planted = rng
      .shuffle([...byCuisine.keys()])
      .slice(0, level)
      .map((c) => rng.choice(byCuisine.get(c) ?? []))
    const facts = planted.map((r) => nutrition(truth, num(r, "id")))
    const avoid = level >= 3 ? rng.choice(["nuts", "dairy", "gluten", "shellfish"]) : undefined
    if (
      avoid !== undefined &&
      planted.some((r) =>
        truth.get(
          "SELECT 1 FROM recipe_ingredients x JOIN ingredients i ON i.id = x.ingredient_id WHERE x.recipe_id = ? AND i.allergen = ?",
          [r.id as number, avoid],
        ),
      )
    )
      return undefined
    const rules: Rules = {
      n: level,
      kcal: facts.reduce((s2, f) => s2 + f.kcal, 0) + rng.int(0, 5) * 20,
      protein: Math.max(0, facts.reduce((s2, f) => s2 + f.protein, 0) - rng.int(0, 5) * 2),
      avoid,
      minutes: level >= 3 ? planted.reduce((s2, r) => s2 + num(r, "minutes"), 0) + 10 : undefined,
    }
    const prompt =
      `Pick ${rules.n} recipe${rules.n > 1 ? "s from different cuisines" : ""} with at most ${rules.kcal} kcal and at least ${rules.protein} g protein in total` +
      `${avoid ? `, none containing ${avoid}` : ""}${rules.minutes ? `, cooking in ${rules.minutes} minutes or less altogether` : ""}. ` +
      "Calories and protein of a recipe are the sums over its ingredients (grams / 100 × per-100 g value), each recipe rounded to a whole number. Submit the recipe ids."
    return {
      prompt,
      verify: (answer, state) => verdict(check(rules, answer, state)),
      solve: (call) => {
        const list = call("list_recipes", {}) as Array<{ id: number; cuisine: string; minutes: number }>
        const ingredient = new Map<number, { kcal: number; protein: number; allergen: string }>()
        const facts2 = list
          .map((r) => {
            let kcal = 0
            let protein = 0
            let bad = false
            for (const x of call("list_recipe_ingredients", { recipe_id: r.id }) as Array<{
              ingredient_id: number
              grams: number
            }>) {
              if (!ingredient.has(x.ingredient_id))
                ingredient.set(
                  x.ingredient_id,
                  call("get_ingredient", { ingredient_id: x.ingredient_id }) as {
                    kcal: number
                    protein: number
                    allergen: string
                  },
                )
              const i = ingredient.get(x.ingredient_id)!
              kcal += (i.kcal * x.grams) / 100
              protein += (i.protein * x.grams) / 100
              if (i.allergen === rules.avoid) bad = true
            }
            return { ...r, kcal: Math.round(kcal), protein: Math.round(protein), bad }
          })
          .filter((r) => !r.bad)
        type F = (typeof facts2)[number]
        const search = (start: number, chosen: Array<F>): Array<F> | undefined => {
          if (chosen.length === rules.n) {
            const k = chosen.reduce((a, b) => a + b.kcal, 0)
            const p = chosen.reduce((a, b) => a + b.protein, 0)
            const m = chosen.reduce((a, b) => a + b.minutes, 0)
            return k <= rules.kcal && p >= rules.protein && (rules.minutes === undefined || m <= rules.minutes)
              ? chosen
              : undefined
          }
          for (let i = start; i < facts2.length; i++) {
            const r = facts2[i] as F
            if (chosen.some((c) => c.cuisine === r.cuisine)) continue
            const found = search(i + 1, [...chosen, r])
            if (found !== undefined) return found
          }
          return undefined
        }
        call("submit_result", { recipe_ids: (search(0, []) ?? []).map((r) => r.id) })
      },
    }
  },
}
