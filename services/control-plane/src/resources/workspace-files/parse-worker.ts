import { parentPort, workerData } from 'node:worker_threads';
import { parseFile, type ParseJob } from './parse-files.ts';

/** A worker thread of `parseOffThread`: parses the jobs it was given and posts their results. */
parentPort!.postMessage((workerData as ParseJob[]).map(parseFile));
