/**
 * Imported first by the command (main.ts), so the server's young generation
 * is kept small from the start rather than from when the transfer engine is
 * built: by then, loading the modules (the AWS SDK, ajv, pino...) has grown
 * it to 16 MiB semi-spaces that never shrink back. Measured in one process
 * running a 256 MiB upload to s3rver: peak RSS 147-148 MiB when the engine
 * set the flag, 117-119 MiB when set before the imports (gc-tuning.ts says
 * why the young generation's size matters).
 */
import { keepYoungGenerationSmall } from '../transfer/gc-tuning.js';

keepYoungGenerationSmall();
