// Environment handling shared by every script.
//
// Every knob has a default suited to a real benchmark run; CI and scripts/k6-quick.sh shrink
// them through the environment so each script finishes in seconds.

export function strEnv(name, fallback) {
  const v = __ENV[name];
  return v === undefined || v === '' ? fallback : v;
}

export function intEnv(name, fallback) {
  const raw = strEnv(name, undefined);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return n;
}

export function listEnv(name, fallback) {
  return strEnv(name, fallback)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

// Durations in k6's own syntax ("500ms", "3s", "1m30s", "1h"). We need them as numbers to lay
// scenarios end to end with startTime, so parse them rather than trusting k6 to do it later.
export function durationMs(text) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 };
  let total = 0;
  let consumed = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * unit[m[2]];
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== text.length) {
    throw new Error(`not a k6 duration: "${text}" (use e.g. 500ms, 3s, 1m30s)`);
  }
  return total;
}

export function msToDuration(ms) {
  return `${Math.round(ms)}ms`;
}

// The gateway. Trailing slashes are trimmed so `${BASE_URL}/customers` is always one slash.
export const BASE_URL = strEnv('BASE_URL', 'http://127.0.0.1:8000').replace(/\/+$/, '');
export const VUS = intEnv('VUS', 10);
export const DURATION = strEnv('DURATION', '30s');
// A request that takes longer than this is a failure, not a reason to wait: k6's own default
// (60 s) would let one stuck request stall a whole scenario.
export const REQUEST_TIMEOUT = strEnv('REQUEST_TIMEOUT', '10s');
// Pause between scenarios that run one after another, so one scenario's tail does not leak
// into the next one's figures. Also used as each scenario's gracefulStop.
export const GAP = strEnv('SCENARIO_GAP', '1s');

// Lay out scenarios one after another. `specs` is a list of [name, scenarioConfig-without-
// startTime, durationText]; returns the k6 `scenarios` object with startTime filled in.
export function sequential(specs, gap = GAP) {
  const gapMs = durationMs(gap);
  const scenarios = {};
  let start = 0;
  for (const [name, cfg, duration] of specs) {
    scenarios[name] = Object.assign(
      { startTime: msToDuration(start), gracefulStop: gap },
      cfg,
    );
    start += durationMs(duration) + gapMs;
  }
  return scenarios;
}

// Thresholds every script shares. The contract says a correct stack answers every request we
// send as expected, so anything but ~100 % is a finding.
export function commonThresholds() {
  return {
    checks: ['rate>0.99'],
    http_req_failed: ['rate<0.01'],
  };
}

// Trend columns in the summary. `count` lets the text summary tell "no samples" from zeros.
export const SUMMARY_TREND_STATS = ['count', 'avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'];

// Options shared by every script; each script adds scenarios and thresholds.
export function baseOptions(scenarios, thresholds) {
  return {
    scenarios,
    thresholds: Object.assign(commonThresholds(), thresholds),
    summaryTrendStats: SUMMARY_TREND_STATS,
    // Seeding a few hundred rows through the API on a slow runtime must not hit the default.
    setupTimeout: strEnv('SETUP_TIMEOUT', '120s'),
    teardownTimeout: '30s',
    // Benchmarks measure the service, not DNS or keep-alive churn; k6 reuses connections by
    // default, state it so nobody wonders.
    noConnectionReuse: false,
  };
}
