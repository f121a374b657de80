import type { ToolResultPayload } from '@toolplane/contracts';
import type { Stage } from './stage.ts';

/**
 * A tool that runs only as a task (`taskOnly`), called plainly: the 2025-11-25 error -32601 (2026-07-28 callers got
 * -32021 before). Not recorded: the call was never one the tool could take.
 */
export const taskOnlyStage: Stage = {
  name: 'task-only',
  appliesTo: (tool) => tool.rules.taskOnly === true,
  run: (s) => (s.call.task ? undefined : { refused: taskRequired(s.tool.def.name) }),
};

const taskRequired = (name: string): ToolResultPayload => ({
  content: [],
  protocolError: {
    code: -32601,
    message: `The tool "${name}" runs only as a task: call it as one (the Tasks extension)`,
  },
});
