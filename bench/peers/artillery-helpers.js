// Artillery processor for artillery-checkout.yml: lets each virtual user loop until the benchmark's
// deadline, so Artillery runs a closed model like journeyd, drill and Locust.
'use strict';

const seconds = Number(process.env.BENCH_SECONDS || '20');
// Fixed when Artillery loads the processor, just before the first virtual user starts.
const deadline = Date.now() + seconds * 1000;

function beforeDeadline(context, next) {
  return next(Date.now() < deadline);
}

module.exports = { beforeDeadline };
