// Jest reporter that ends the run with one plain line CI can read:
// "tests: N passed, N failed[, N skipped]" (suites that failed to run count as failed).
class Summary {
  onRunComplete(_contexts, r) {
    const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
    const skipped = r.numPendingTests + r.numTodoTests;
    process.stdout.write(`\ntests: ${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
module.exports = Summary;
