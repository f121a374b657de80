// The jest environment of every test file: Node's, with each test's and hook's timeout (its own, or the configured
// `testTimeout`) multiplied by `timeScale()` (packages/embedded/src/time-scale.ts: TEST_TIME_SCALE, or 3 under CI=true,
// 2 elsewhere, more on a machine loaded beyond that). A timeout in a test file is what the test needs on an idle
// machine; on a noisy CI runner it gets that many times as long, so the timeout still catches a hang but no longer
// fails a run that is merely slow.
import { createRequire } from 'node:module';
import { timeScale } from '../../packages/embedded/src/time-scale.ts';

// jest-environment-node is jest's own dependency (jest → jest-cli → jest-config → jest-environment-node), not ours.
let require = createRequire(import.meta.url);
for (const step of ['jest', 'jest-cli', 'jest-config']) require = createRequire(require.resolve(step));
const { TestEnvironment } = require('jest-environment-node');

const scale = timeScale();

export default class ScaledTimeoutEnvironment extends TestEnvironment {
  /** Tests and hooks whose timeout was scaled already (a `beforeEach` starts once per test). */
  #scaled = new WeakSet();

  /** circus reads `test.timeout` / `hook.timeout` right after these events (falling back to `testTimeout`). */
  async handleTestEvent(event, state) {
    const entry = event.name === 'test_fn_start' ? event.test : event.name === 'hook_start' ? event.hook : undefined;
    if (entry === undefined || this.#scaled.has(entry)) return;
    this.#scaled.add(entry);
    entry.timeout = Math.round((entry.timeout || state.testTimeout) * scale);
    // The running test's timeout as scaled, for a test that wants to know (tests/setup/time-scale.test.ts checks it).
    if (event.name === 'test_fn_start') this.global.scaledTestTimeoutMs = entry.timeout;
  }
}
