// The V8 flags the broker runs with: docker/Dockerfile's ENTRYPOINT (same list, checked by
// test/e2e/deploy-files), `npm start`, `npm run broker` and the bench. Cluster workers inherit
// them from the primary. Why (issue 19, README "Running at scale"):
//
// --no-memory-reducer: after about ten idle seconds V8's memory reducer runs full collections that
//   shrink the heap and drop compiled code, so the next burst of logins starts in the interpreter
//   and spends its first 4–5 s recompiling (measured with perf: 20–28 % of the broker's CPU in
//   those seconds, against 1–2 % in steady load). An idle broker keeps its heap instead.
export const BROKER_NODE_FLAGS = ['--no-memory-reducer'];
