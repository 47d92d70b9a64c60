import { type AdamWState, initAdamW, type Model } from "@ds/model"

/** Zero AdamW moments (host arrays) for the trainable parameters. */
export const freshOptimizer = (model: Model): AdamWState =>
  initAdamW(new Map([...model.params].filter(([, v]) => v.trainable)))
