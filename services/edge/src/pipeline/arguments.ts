import { nonFiniteNumberPath } from '../calls/call-arguments.ts';
import { describeArgumentErrors } from '../state/catalogs.ts';
import { errorResult, invalidArguments, refuse } from './refusal.ts';
import type { Stage } from './stage.ts';

/**
 * Arguments the tool cannot take, refused before any other stage looks at them: a number past a double's range (a
 * JSON literal such as 1e400), then the tool's input schema. Every tool has this stage.
 */
export const argumentsStage: Stage = {
  name: 'arguments',
  appliesTo: () => true,
  run(s) {
    const { call, tool } = s;
    const input = call.arguments;
    const notFinite = nonFiniteNumberPath(input);
    if (notFinite !== undefined) {
      const message = `the number at ${notFinite} is not finite (a literal past the range of a double)`;
      const text = `Invalid arguments for tool "${tool.def.name}": ${message}. Nothing was sent.`;
      return refuse(s, { errorCode: 'tool.invalid_arguments', message, result: errorResult(text) });
    }
    if (tool.validate(input)) return undefined;
    const message = describeArgumentErrors(tool.validate.errors);
    return refuse(s, { errorCode: 'tool.invalid_arguments', message, result: invalidArguments(tool) });
  },
};
