#!/usr/bin/env node
// The installed command: a thin launcher for the compiled CLI (npm run build writes dist/).
import "../dist/cli/main.js";
