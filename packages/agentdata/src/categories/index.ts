/**
 * The four categories (docs/agentdata.md §5): general agent units cycle through the domains.
 */
import type { Category } from "../env/environment.ts"
import { domains } from "../general/index.ts"
import { synthesizeDomain } from "../general/loop.ts"
import { code } from "./code.ts"
import { codeInterpreter } from "./code-interpreter.ts"
import { search } from "./search.ts"
import type { CategorySynthesizer } from "./unit.ts"

export const general: CategorySynthesizer = {
  category: "general",
  synthesize: (rng, spec) => {
    const domain = domains[spec.unit % domains.length]!
    return synthesizeDomain(domain, rng, `general/${domain.name}/${spec.seed}/${spec.unit}`, spec, spec.tasks)
  },
}

export const synthesizers: Readonly<Record<Category, CategorySynthesizer>> = {
  general,
  "code-interpreter": codeInterpreter,
  search,
  code,
}
