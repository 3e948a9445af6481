// Preloaded into Artillery by bench/run (NODE_OPTIONS=--require …). Artillery 2 sends a telemetry event
// even with ARTILLERY_DISABLE_TELEMETRY set; without network access it then retries DNS for ~12 s before it
// exits. This swaps its telemetry client (posthog-node) for a no-op so the benchmark stays on 127.0.0.1.
'use strict';

const Module = require('module');
const load = Module._load;

class NoTelemetry {
  capture() {}
  async shutdownAsync() {}
}

Module._load = function (request, ...rest) {
  if (request === 'posthog-node') {
    return { PostHog: NoTelemetry };
  }
  return load.call(this, request, ...rest);
};
