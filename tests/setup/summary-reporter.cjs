// Prints the plain closing line CI reads: "N passed, N failed" (and skipped, which must stay 0).
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failedSuites = results.numFailedTestSuites - (results.numFailedTests > 0 ? 1 : 0);
    const failed = results.numFailedTests + (results.numRuntimeErrorTestSuites || 0);
    process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
    void failedSuites;
  }
}
module.exports = SummaryReporter;
