export { linear } from "./linear.ts"
export { dimOf, expectDtype, expectRank, expectShape } from "./shape.ts"
export { nonDifferentiable, stopGradient } from "./stop-gradient.ts"
