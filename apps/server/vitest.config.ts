import { dsProject } from "@ds/tooling/vitest"

export default dsProject("@ds/server")
