export * from "./jsonl.ts"
