/**
 * A worker thread's entry (code-sandbox.ts): runs one `run_code` program in QuickJS (WebAssembly) and nothing else.
 * The program sees `tools`, `console` and the language itself: no network, no file system, no host objects. Its only
 * way out is `tools.<name>(args)`, a message to the edge's thread, which runs the tool call and answers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  newQuickJSWASMModule,
  newVariant,
  RELEASE_SYNC,
  type QuickJSContext,
  type QuickJSDeferredPromise,
  type QuickJSHandle,
} from 'quickjs-emscripten';
import type { SandboxLimits, SandboxReply, SandboxRequest, SandboxResult } from './code-sandbox.ts';

const port = parentPort!;
/** `deadline`: epoch ms, the call's arrival plus its wall time (the edge's clock, the same as this thread's). */
const { code, limits, deadline } = workerData as { code: string; limits: SandboxLimits; deadline: number };

const WASM_PAGE = 64 * 1024;
/** The QuickJS build's own initial memory (its stack, static data and first heap): the least it instantiates with. */
const INITIAL_BYTES = 16 * 1024 * 1024;
/**
 * QuickJS runs in a WebAssembly memory that may grow by the program's memory limit past the build's initial 16 MB, and
 * no further. QuickJS's own limit (`setMemoryLimit`) refuses one allocation over it but does not add allocations up
 * under Emscripten (it counts 8 bytes a block: no `malloc_usable_size`), so a program could otherwise hold any number
 * of smaller strings, buffers and objects; the memory's maximum is the bound, and an allocation past it fails in
 * QuickJS ("out of memory").
 */
const maxBytes = INITIAL_BYTES + Math.ceil(limits.memoryBytes / WASM_PAGE) * WASM_PAGE;
const wasmMemory = new WebAssembly.Memory({ initial: INITIAL_BYTES / WASM_PAGE, maximum: maxBytes / WASM_PAGE });
/** How close to its maximum the memory is when even QuickJS's small allocations fail (its error then is `null`). */
const NEARLY_FULL = Math.min(4 * 1024 * 1024, limits.memoryBytes / 2);

const boundedQuickJS = () => newQuickJSWASMModule(newVariant(RELEASE_SYNC, { wasmMemory }));

/** Each `tools.x(args)` becomes `__call("x", JSON)`; its answer is the tool's value as JSON. */
const PRELUDE = `
const tools = new Proxy({}, {
  get: (_, name) => typeof name === 'string'
    ? (args) => __call(name, JSON.stringify(args === undefined ? {} : args)).then((r) => JSON.parse(r))
    : undefined,
});
globalThis.tools = tools;
`;

class Output {
  text = '';
  truncated = false;
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  add(line: string): void {
    if (this.truncated) return;
    const room = this.max - Buffer.byteLength(this.text);
    if (Buffer.byteLength(line) + 1 <= room) this.text += line + '\n';
    else {
      this.text += Buffer.from(line)
        .subarray(0, Math.max(0, room))
        .toString()
        .replace(/\uFFFD$/, '');
      this.truncated = true;
    }
  }
}

function describe(vm: QuickJSContext, handle: QuickJSHandle): string {
  if (vm.typeof(handle) === 'string') return vm.getString(handle);
  const json = vm.getProp(vm.global, 'JSON');
  const stringify = vm.getProp(json, 'stringify');
  const r = vm.callFunction(stringify, json, handle);
  json.dispose();
  stringify.dispose();
  if (r.error) {
    r.error.dispose();
    return '[unserialisable]';
  }
  const text = vm.typeof(r.value) === 'string' ? vm.getString(r.value) : String(vm.dump(r.value));
  r.value.dispose();
  return text;
}

/** How `errorMessage` begins for a thrown value that is no Error. */
const NOT_AN_ERROR = 'Uncaught: ';

function errorMessage(vm: QuickJSContext, handle: QuickJSHandle): string {
  const e = vm.dump(handle) as { name?: string; message?: string } | string;
  handle.dispose();
  if (typeof e === 'object' && e && typeof e.message === 'string') return `${e.name ?? 'Error'}: ${e.message}`;
  return `${NOT_AN_ERROR}${typeof e === 'string' ? e : JSON.stringify(e)}`;
}

/** `console.log` and its kin: each line into the capped output. */
function installConsole(vm: QuickJSContext, output: Output): void {
  const consoleObj = vm.newObject();
  const log = vm.newFunction('log', (...args) => {
    output.add(args.map((a) => describe(vm, a)).join(' '));
  });
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) vm.setProp(consoleObj, level, log);
  vm.setProp(vm.global, 'console', consoleObj);
  log.dispose();
  consoleObj.dispose();
}

const overTime = () => `The program ran longer than ${limits.wallMs} ms and was stopped.`;

async function main(): Promise<SandboxResult> {
  const QuickJS = await boundedQuickJS();
  // The wall time counts from the call's arrival: starting this thread and loading QuickJS took part of it.
  if (Date.now() > deadline) return { ok: false, error: overTime(), output: '', truncated: false };
  const runtime = QuickJS.newRuntime();
  runtime.setMemoryLimit(limits.memoryBytes);
  runtime.setMaxStackSize(512 * 1024);
  let interrupted = false;
  runtime.setInterruptHandler(() => (interrupted ||= Date.now() > deadline));
  const vm = runtime.newContext();
  const output = new Output(limits.outputBytes);
  const pending = new Map<number, QuickJSDeferredPromise>();
  let calls = 0;
  let settle: (() => void) | undefined;

  installConsole(vm, output);

  const call = vm.newFunction('__call', (nameH, argsH) => {
    if (++calls > limits.maxCalls)
      return { error: vm.newError(`Too many tool calls: a program makes at most ${limits.maxCalls}.`) };
    const deferred = vm.newPromise();
    pending.set(calls, deferred);
    port.postMessage({
      type: 'call',
      id: calls,
      name: vm.getString(nameH),
      args: vm.getString(argsH),
    } satisfies SandboxRequest);
    return deferred.handle;
  });
  vm.setProp(vm.global, '__call', call);
  call.dispose();

  port.on('message', (reply: SandboxReply) => {
    const deferred = pending.get(reply.id);
    if (!deferred) return;
    pending.delete(reply.id);
    if (reply.ok) {
      const value = vm.newString(reply.json);
      deferred.resolve(value);
      value.dispose();
    } else {
      const error = vm.newError(reply.message);
      deferred.reject(error);
      error.dispose();
    }
    deferred.dispose();
    settle?.();
  });

  const fail = (message: string): SandboxResult => ({
    ok: false,
    error: interrupted ? overTime() : memoryOr(message),
    output: output.text,
    truncated: output.truncated,
  });
  const prelude = vm.evalCode(PRELUDE);
  if (prelude.error) return fail(errorMessage(vm, prelude.error));
  prelude.value.dispose();

  const body = `(async () => {\n${code}\n})().then((v) => JSON.stringify(v === undefined ? null : v))`;
  const started = vm.evalCode(body, 'program.js');
  if (started.error) return fail(errorMessage(vm, started.error));
  const promise = started.value;
  for (;;) {
    const jobs = runtime.executePendingJobs();
    if (jobs.error) return fail(errorMessage(vm, jobs.error));
    const state = vm.getPromiseState(promise);
    if (state.type === 'fulfilled') {
      const json = vm.getString(state.value);
      state.value.dispose();
      return { ok: true, json, output: output.text, truncated: output.truncated };
    }
    if (state.type === 'rejected') return fail(errorMessage(vm, state.error));
    if (pending.size === 0) return fail('The program waits for nothing: a promise that never settles.');
    await new Promise<void>((resolve) => (settle = resolve));
  }
}

/**
 * Whether a failure is the memory limit: QuickJS's own "out of memory" (Emscripten's outside its allocator), or what
 * QuickJS throws when even that error cannot be allocated (`null`, no Error), which happens only with the memory grown
 * to nearly its maximum.
 */
function outOfMemory(message: string): boolean {
  if (/out of memory|\bOOM\b|Cannot enlarge memory/i.test(message)) return true;
  return message.startsWith(NOT_AN_ERROR) && wasmMemory.buffer.byteLength >= maxBytes - NEARLY_FULL;
}

function memoryOr(message: string): string {
  return outOfMemory(message)
    ? `The program used more than ${Math.round(limits.memoryBytes / 1048576)} MB of memory and was stopped.`
    : message;
}

main().then(
  (result) => port.postMessage({ type: 'done', result }),
  (err: unknown) =>
    port.postMessage({
      type: 'done',
      result: { ok: false, error: memoryOr(String(err)), output: '', truncated: false },
    }),
);
