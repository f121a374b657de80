import { describe, expect, it } from '@jest/globals';
import { DEFAULT_SANDBOX_LIMITS, runInSandbox, type InnerCall, type SandboxLimits } from './code-sandbox.ts';

// The sandbox of a `run_code` program (ADR 0068), a real worker thread running QuickJS: each limit stops the program
// it is meant to stop, whatever the machine's load. A test of one limit makes every other limit out of reach.

/** Ten minutes: no program here can reach it unless its test is about it. */
const FAR = 600_000;
const noCalls: InnerCall = () => Promise.resolve({ message: 'no tools here' });
const limits = (over: Partial<SandboxLimits> = {}): SandboxLimits => ({
  ...DEFAULT_SANDBOX_LIMITS,
  wallMs: FAR,
  ...over,
});

describe('code sandbox: memory', () => {
  // QuickJS counts 8 bytes per allocation under Emscripten (no malloc_usable_size): its own limit refuses one large
  // allocation, never many. The WebAssembly memory's maximum bounds what the program holds, whatever it holds.
  it.each([
    [
      '64 MiB of strings',
      "const a = []; for (let i = 0; i < 64; i++) a.push('x'.repeat(1 << 20) + i); return a.length;",
    ],
    ['96 MiB of typed arrays', 'const a = []; for (let i = 0; i < 96; i++) a.push(new Uint8Array(1 << 20)); return 1;'],
    ['objects without end', 'const a = []; for (let i = 0; ; i++) a.push({ i, s: String(i).repeat(8) });'],
    ['a Map without end', 'const m = new Map(); for (let i = 0; ; i++) m.set(i, [i]);'],
    ['properties without end', "const o = {}; for (let i = 0; ; i++) o['k' + i] = i;"],
    ['closures without end', 'let f = () => 0; for (let i = 0; ; i++) { const g = f; f = () => g() + i; }'],
  ])('a program holding %s is stopped by the 32 MB limit', async (_, code) => {
    const r = await runInSandbox(code, limits(), noCalls);
    expect(r).toMatchObject({ ok: false, error: 'The program used more than 32 MB of memory and was stopped.' });
  });

  it('a value the program throws itself stays its error', async () => {
    expect(await runInSandbox('throw null;', limits(), noCalls)).toMatchObject({ ok: false, error: 'Uncaught: null' });
  });

  it('a program within the limit runs, and a smaller limit is kept too', async () => {
    const code = "const a = []; for (let i = 0; i < 16; i++) a.push('x'.repeat(1 << 20) + i); return a.length;";
    expect(await runInSandbox(code, limits(), noCalls)).toMatchObject({ ok: true, json: '16' });
    const more = code.replace('16', '32');
    const small = await runInSandbox(more, limits({ memoryBytes: 8 * 1024 * 1024 }), noCalls);
    expect(small).toMatchObject({ ok: false, error: 'The program used more than 8 MB of memory and was stopped.' });
  });
});

describe('code sandbox: wall time', () => {
  it('stops a program that loops forever', async () => {
    const r = await runInSandbox('while (true) {}', limits({ wallMs: 200 }), noCalls);
    expect(r).toMatchObject({ ok: false, error: 'The program ran longer than 200 ms and was stopped.' });
  });

  it('counts from the call: starting the thread and loading QuickJS are in the program’s time', async () => {
    // Starting a thread and instantiating QuickJS take more than a millisecond on any machine: the program's time is
    // over before it would start, so it does not run.
    const r = await runInSandbox('return 1;', limits({ wallMs: 1 }), noCalls);
    expect(r).toMatchObject({ ok: false, error: 'The program ran longer than 1 ms and was stopped.' });
  });

  it('counts from the moment the caller gives (the call’s arrival), not from the thread’s start', async () => {
    const arrivedAt = Date.now() - 5_000;
    const r = await runInSandbox('return 1;', limits({ wallMs: 5_000 }), noCalls, { arrivedAt });
    expect(r).toMatchObject({ ok: false, error: 'The program ran longer than 5000 ms and was stopped.' });
  });

  it('a cancelled call stops its program', async () => {
    const cancel = new AbortController();
    let called!: () => void;
    const waiting = new Promise<void>((resolve) => (called = resolve));
    // Its one inner call never answers: only the cancel can end the program.
    const never: InnerCall = () => {
      called();
      return new Promise(() => undefined);
    };
    const result = runInSandbox('await tools.wait({}); return 1;', limits(), never, { signal: cancel.signal });
    await waiting;
    cancel.abort();
    expect(await result).toMatchObject({ ok: false, error: 'The call was cancelled: the program was stopped.' });
  });
});
