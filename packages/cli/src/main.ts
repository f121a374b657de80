#!/usr/bin/env node
// toolplane: `dev` (the platform locally) and the management commands (docs/cli.md).
import { runCli } from './program.ts';

process.exitCode = await runCli(process.argv);
