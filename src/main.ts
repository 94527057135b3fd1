// Entry point of the bundle (dist/bin/msistorage.js), run by the loader dist/bin/msistorage.cjs.
import { main } from './cli.js';

void main();
