import { RE2JS } from '@bufbuild/re2';
import { patternDetector, type Detector, type Match } from './detector.ts';

/**
 * Markers of prompt injection in text a tool brings back. The first four are the `dangerous_patterns` of OWASP's
 * "LLM Prompt Injection Prevention Cheat Sheet" (ignore previous instructions, developer mode, system override,
 * reveal prompt); the others are their common variants (disregard / forget the previous instructions, a new system
 * prompt) and the chat templates' control tokens (ChatML `<|im_start|>`, Llama `[INST]`, `<<SYS>>`) that text from an
 * API has no reason to carry. Case-insensitive, spaces bounded.
 */
const injectionPatterns = [
  /ignore\s{1,5}(?:all\s{1,5})?(?:the\s{1,5})?(?:previous|prior|above|earlier)\s{1,5}(?:instructions?|prompts?|directions?)/gi,
  /you\s{1,5}are\s{1,5}now\s{1,5}(?:in\s{1,5})?developer\s{1,5}mode/gi,
  /system\s{1,5}override/gi,
  /reveal\s{1,5}(?:your\s{1,5}|the\s{1,5})?(?:system\s{1,5})?prompt/gi,
  /(?:disregard|forget)\s{1,5}(?:all\s{1,5})?(?:your\s{1,5}|the\s{1,5})?(?:previous|prior|above|earlier)\s{1,5}(?:instructions?|prompts?|directions?)/gi,
  /new\s{1,5}system\s{1,5}prompt\s{0,5}:/gi,
  /<\|im_start\|>|<\|im_end\|>|\[\/?INST\]|<<\/?SYS>>/gi,
].map((pattern) => ({ name: '', pattern }));

const documented = patternDetector('prompt_injection', injectionPatterns);

/** Every problem RE2 finds in the patterns (each with its index), for a 422 when a guardrail is saved. */
export function patternProblems(patterns: readonly string[]): { index: number; message: string }[] {
  const problems: { index: number; message: string }[] = [];
  patterns.forEach((p, index) => {
    try {
      RE2JS.compile(p);
    } catch (err) {
      problems.push({
        index,
        message: `RE2 refuses this pattern: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  });
  return problems;
}

/**
 * Patterns a workspace gives, run by RE2 (linear time, whatever the pattern). RE2 here answers whether a text
 * matches, not where: a string that matches is searched line by line, and each matching line is the match (the whole
 * string when the pattern spans lines).
 */
function re2Detector(detector: string, patterns: readonly string[]): Detector {
  const compiled = patterns.map((p) => RE2JS.compile(p));
  const matches = (text: string) => compiled.some((re) => re.test(text));
  return {
    find(text, _key, out: Match[]) {
      if (!matches(text)) return;
      let found = false;
      let start = 0;
      while (start <= text.length) {
        const nl = text.indexOf('\n', start);
        const end = nl < 0 ? text.length : nl;
        if (end > start && matches(text.slice(start, end))) {
          out.push({ start, end, detector });
          found = true;
        }
        start = end + 1;
      }
      if (!found) out.push({ start: 0, end: text.length, detector });
    },
  };
}

/** The `prompt_injection` detector: the documented markers, and the workspace's own patterns (RE2). */
export function injectionDetector(custom: readonly string[] | undefined): Detector {
  if (!custom?.length) return documented;
  const own = re2Detector('prompt_injection', custom);
  return {
    find(text, key, out, context) {
      documented.find(text, key, out, context);
      own.find(text, key, out, context);
    },
  };
}

/** The `custom` detector: the workspace's patterns (RE2), found as `custom` or `custom:<label>`. */
export function customDetector(patterns: readonly string[], label: string | undefined): Detector {
  return re2Detector(label ? `custom:${label}` : 'custom', patterns);
}
