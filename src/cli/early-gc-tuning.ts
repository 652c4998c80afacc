/**
 * Imported first by the command (main.ts), so the server's young generation
 * is kept small from the start rather than from when the transfer engine is
 * built: by then, loading the modules (the AWS SDK, ajv, pino...) has grown
 * it to 16 MiB semi-spaces that never shrink back (gc-tuning.ts says why the
 * young generation's size matters; the figures: docs/benchmarks.md, change 9).
 */
import { keepYoungGenerationSmall } from '../transfer/gc-tuning.js';

keepYoungGenerationSmall();
