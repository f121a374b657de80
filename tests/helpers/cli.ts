import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Stack } from '@toolplane/cli';

/** `toolplane <args>` from this checkout's sources, against `stack`'s control plane with its bootstrap key. */
export function sourceCli(stack: Stack): (...args: string[]) => Promise<{ stdout: string; stderr: string }> {
  return (...args) =>
    promisify(execFile)(
      process.execPath,
      [
        '--conditions=@toolplane/source',
        fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url)),
        ...args,
      ],
      { env: { ...process.env, TOOLPLANE_URL: stack.controlPlaneUrl, TOOLPLANE_API_KEY: stack.bootstrapKey } },
    );
}
