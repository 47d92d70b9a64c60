import { banking } from "./banking.ts"
import { calendar } from "./calendar.ts"
import { courses } from "./courses.ts"
import type { Domain } from "./domain.ts"
import { flights } from "./flights.ts"
import { recipes } from "./recipes.ts"
import { shop } from "./shop.ts"
import { trip } from "./trip.ts"
import { warehouse } from "./warehouse.ts"

/** The general-agent domains, in the order units cycle through them (docs/agentdata.md §4). */
export const domains: ReadonlyArray<Domain> = [trip, shop, calendar, flights, banking, courses, recipes, warehouse]
