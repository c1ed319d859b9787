// A bounded load generator for end-to-end tests and the demo: N inferences a second against an
// inference server, and for each an impression, with clicks and conversions at configurable
// rates posted as batched outcome counts. Counts are exact (fractional carries, no dice) unless
// `random` is set, so a test can drop the conversion rate by 40% and see exactly that.

export interface V2Input {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}

export interface LoadOptions {
  /** Inference server base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  model: string;
  /** Inferences per second. */
  rate: number;
  /** Stops by itself after this long. */
  durationMs: number;
  /** Conversions per click (0..1). */
  conversionRate: number;
  /** Clicks per impression (default 0.1). */
  clickThroughRate?: number;
  /** Revenue per conversion (default 10). */
  revenuePerConversion?: number;
  /** Cost per impression (default 0.01). */
  costPerImpression?: number;
  /** Builds each request's inputs (default: FP32 `inputName` of shape [1, features], random values). */
  inputs?: () => V2Input[];
  /** Input name for the default input (default "x", as test/harness/models.ts names it). */
  inputName?: string;
  /** Feature count for the default input (default 4). */
  features?: number;
  /** Scheduling granularity (default 100 ms). */
  tickMs?: number;
  /** Requests in flight at most; beyond it, due requests are skipped and counted (default 32). */
  maxInFlight?: number;
  /** Bernoulli draws instead of exact expected counts (default false). */
  random?: boolean;
  /** Per-request timeout (default 5000 ms). */
  requestTimeoutMs?: number;
}

export interface LoadStats {
  inferences: number;
  inferenceErrors: number;
  skipped: number;
  impressions: number;
  clicks: number;
  conversions: number;
  revenue: number;
  cost: number;
  outcomeErrors: number;
  /** The last error seen, for test messages. */
  lastError?: string;
}

export interface LoadGenerator {
  stats(): LoadStats;
  setRate(perSecond: number): void;
  setConversionRate(rate: number): void;
  setClickThroughRate(rate: number): void;
  /** Stops sending, waits for requests in flight, returns the final stats. */
  stop(): Promise<LoadStats>;
  /** Resolves with the final stats once the generator has stopped (by duration or stop()). */
  done: Promise<LoadStats>;
}

function check(name: string, v: number, max = Number.POSITIVE_INFINITY): void {
  if (!Number.isFinite(v) || v < 0 || v > max) throw new Error(`${name} must be a number in [0, ${max}], got ${v}.`);
}

export function startLoad(opts: LoadOptions): LoadGenerator {
  check('rate', opts.rate);
  check('durationMs', opts.durationMs);
  check('conversionRate', opts.conversionRate, 1);
  let rate = opts.rate;
  let cvr = opts.conversionRate;
  let ctr = opts.clickThroughRate ?? 0.1;
  check('clickThroughRate', ctr, 1);
  const revenuePer = opts.revenuePerConversion ?? 10;
  const costPer = opts.costPerImpression ?? 0.01;
  const tickMs = opts.tickMs ?? 100;
  const maxInFlight = opts.maxInFlight ?? 32;
  const timeoutMs = opts.requestTimeoutMs ?? 5000;
  const features = opts.features ?? 4;
  const inputName = opts.inputName ?? 'x';
  const base = opts.url.replace(/\/+$/, '');
  const model = encodeURIComponent(opts.model);
  const makeInputs =
    opts.inputs ??
    ((): V2Input[] => [{ name: inputName, shape: [1, features], datatype: 'FP32', data: Array.from({ length: features }, () => Math.random()) }]);

  const stats: LoadStats = { inferences: 0, inferenceErrors: 0, skipped: 0, impressions: 0, clicks: 0, conversions: 0, revenue: 0, cost: 0, outcomeErrors: 0 };
  const inFlight = new Set<Promise<void>>();
  let owed = 0; // fractional inferences carried between ticks
  let clickCarry = 0;
  let convCarry = 0;
  let last = Date.now();
  let stopped = false;

  const track = (p: Promise<void>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const post = async (path: string, body: unknown): Promise<Response> =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });

  const infer = async (): Promise<void> => {
    try {
      const res = await post(`/v2/models/${model}/infer`, { inputs: makeInputs() });
      const text = await res.text();
      if (res.ok) stats.inferences += 1;
      else {
        stats.inferenceErrors += 1;
        stats.lastError = `infer HTTP ${res.status}: ${text.slice(0, 200)}`;
      }
    } catch (err) {
      stats.inferenceErrors += 1;
      stats.lastError = `infer: ${(err as Error).message}`;
    }
  };

  const draw = (n: number, p: number, carry: number): [number, number] => {
    if (opts.random) {
      let k = 0;
      for (let i = 0; i < n; i += 1) if (Math.random() < p) k += 1;
      return [k, carry];
    }
    const exact = carry + n * p;
    const k = Math.floor(exact + 1e-9);
    return [k, exact - k];
  };

  const tick = (): void => {
    const now = Date.now();
    owed += (rate * (now - last)) / 1000;
    last = now;
    const due = Math.floor(owed);
    owed -= due;
    let sent = 0;
    for (let i = 0; i < due; i += 1) {
      if (inFlight.size >= maxInFlight) {
        stats.skipped += 1;
        continue;
      }
      track(infer());
      sent += 1;
    }
    if (sent === 0) return;
    let clicks: number;
    let conversions: number;
    [clicks, clickCarry] = draw(sent, ctr, clickCarry);
    [conversions, convCarry] = draw(clicks, cvr, convCarry);
    const batch = { impressions: sent, clicks, conversions, revenue: conversions * revenuePer, cost: sent * costPer };
    track(
      post(`/v2/models/${model}/outcomes`, batch).then(
        async (res) => {
          const text = await res.text();
          if (res.ok) {
            stats.impressions += batch.impressions;
            stats.clicks += batch.clicks;
            stats.conversions += batch.conversions;
            stats.revenue += batch.revenue;
            stats.cost += batch.cost;
          } else {
            stats.outcomeErrors += 1;
            stats.lastError = `outcomes HTTP ${res.status}: ${text.slice(0, 200)}`;
          }
        },
        (err: unknown) => {
          stats.outcomeErrors += 1;
          stats.lastError = `outcomes: ${(err as Error).message}`;
        },
      ),
    );
  };

  let resolveDone!: (s: LoadStats) => void;
  const done = new Promise<LoadStats>((r) => (resolveDone = r));
  const interval = setInterval(tick, tickMs);
  const deadline = setTimeout(() => void finish(), opts.durationMs);

  async function finish(): Promise<LoadStats> {
    if (!stopped) {
      stopped = true;
      clearInterval(interval);
      clearTimeout(deadline);
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      resolveDone({ ...stats });
    }
    return done;
  }

  return {
    stats: () => ({ ...stats }),
    setRate(perSecond) {
      check('rate', perSecond);
      rate = perSecond;
    },
    setConversionRate(r) {
      check('conversionRate', r, 1);
      cvr = r;
    },
    setClickThroughRate(r) {
      check('clickThroughRate', r, 1);
      ctr = r;
    },
    stop: finish,
    done,
  };
}
