// A bounded load generator for end-to-end tests and the demo: N inferences a second against an
// inference server, and for each an impression, with clicks and conversions at configurable
// rates posted as batched outcome counts. Counts are exact (fractional carries, no dice) unless
// `random` is set, so a test can drop the conversion rate by 40% and see exactly that.
// One server (`url`) or a changing set (`targets`, read before every tick: the pod network's
// load generator, test/harness/loadgen-main.ts, gives it the Ready pods' addresses); each
// target's outcomes are posted to that target, so every pod's series add up on their own.
// Conversion rates may depend on the model version a target reports (conversionRateByVersion),
// as a worse model converts worse wherever it serves.

export interface V2Input {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}

export interface LoadOptions {
  /** Inference server base URL, e.g. http://127.0.0.1:8080. */
  url?: string;
  /**
   * Instead of `url`: the base URLs to spread requests over, read at every tick (round robin).
   * When it returns none, the tick's requests are skipped and counted as `skipped`.
   */
  targets?: () => readonly string[];
  model: string;
  /** Inferences per second. */
  rate: number;
  /** Stops by itself after this long. */
  durationMs: number;
  /** Conversions per click (0..1). */
  conversionRate: number;
  /**
   * Conversions per click by model version, for targets whose inference responses report that
   * `model_version` (others convert at `conversionRate`): a bad model converts worse wherever it
   * serves, across a rollout that mixes versions. With it, a target's outcomes of a tick are
   * posted once that tick's inferences to it have answered, so the version is known.
   */
  conversionRateByVersion?: Record<string, number>;
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
  /** The servers' OUTCOMES_TOKEN, sent as `Authorization: Bearer` with outcomes (not inferences). */
  outcomesToken?: string;
}

export interface TargetStats {
  /** The model_version its last answered inference reported. */
  version?: string;
  inferences: number;
  inferenceErrors: number;
  impressions: number;
  clicks: number;
  conversions: number;
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
  /** The same counts by target base URL. */
  perTarget: Record<string, TargetStats>;
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
  const byVersion = { ...(opts.conversionRateByVersion ?? {}) };
  for (const [v, r] of Object.entries(byVersion)) check(`conversionRateByVersion[${v}]`, r, 1);
  const perVersion = Object.keys(byVersion).length > 0;
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
  if ((opts.url === undefined) === (opts.targets === undefined)) throw new Error('give the load generator either url or targets.');
  const trim = (u: string): string => u.replace(/\/+$/, '');
  const fixed = opts.url === undefined ? undefined : [trim(opts.url)];
  const targetsNow = (): string[] => fixed ?? opts.targets!().map(trim);
  let next = 0; // round-robin position over the targets
  const model = encodeURIComponent(opts.model);
  const makeInputs =
    opts.inputs ??
    ((): V2Input[] => [{ name: inputName, shape: [1, features], datatype: 'FP32', data: Array.from({ length: features }, () => Math.random()) }]);

  const stats: LoadStats = { inferences: 0, inferenceErrors: 0, skipped: 0, impressions: 0, clicks: 0, conversions: 0, revenue: 0, cost: 0, outcomeErrors: 0, perTarget: {} };
  const of = (base: string): TargetStats =>
    (stats.perTarget[base] ??= { inferences: 0, inferenceErrors: 0, impressions: 0, clicks: 0, conversions: 0 });
  const snapshot = (): LoadStats => ({ ...stats, perTarget: Object.fromEntries(Object.entries(stats.perTarget).map(([k, v]) => [k, { ...v }])) });
  const inFlight = new Set<Promise<void>>();
  let owed = 0; // fractional inferences carried between ticks
  let clickCarry = 0;
  let convCarry = 0;
  // By target when rates differ by version, so each target's count is exact at its own rate.
  const targetCarry = new Map<string, number>();
  let last = Date.now();
  let stopped = false;

  const track = (p: Promise<void>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const auth: Record<string, string> = opts.outcomesToken ? { authorization: `Bearer ${opts.outcomesToken}` } : {};
  const post = async (base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });

  const infer = async (base: string): Promise<void> => {
    const t = of(base);
    try {
      const res = await post(base, `/v2/models/${model}/infer`, { inputs: makeInputs() });
      const text = await res.text();
      if (res.ok) {
        stats.inferences += 1;
        t.inferences += 1;
        try {
          const v = (JSON.parse(text) as { model_version?: unknown }).model_version;
          if (typeof v === 'string' && v !== '') t.version = v;
        } catch {
          // not JSON: the version stays as it was
        }
      } else {
        stats.inferenceErrors += 1;
        t.inferenceErrors += 1;
        stats.lastError = `infer HTTP ${res.status} from ${base}: ${text.slice(0, 200)}`;
      }
    } catch (err) {
      stats.inferenceErrors += 1;
      t.inferenceErrors += 1;
      stats.lastError = `infer ${base}: ${(err as Error).message}`;
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
    if (due === 0) return;
    let bases: string[];
    try {
      bases = targetsNow();
    } catch (err) {
      bases = [];
      stats.lastError = `targets: ${(err as Error).message}`;
    }
    if (bases.length === 0) {
      stats.skipped += due;
      stats.lastError = 'no targets to send to';
      return;
    }
    const sentTo = new Map<string, { sent: number; infers: Array<Promise<void>> }>();
    for (let i = 0; i < due; i += 1) {
      if (inFlight.size >= maxInFlight) {
        stats.skipped += 1;
        continue;
      }
      const base = bases[next++ % bases.length]!;
      const p = infer(base);
      track(p);
      const s = sentTo.get(base) ?? { sent: 0, infers: [] };
      s.sent += 1;
      s.infers.push(p);
      sentTo.set(base, s);
    }
    for (const [base, { sent, infers }] of sentTo) {
      let clicks: number;
      [clicks, clickCarry] = draw(sent, ctr, clickCarry);
      if (!perVersion) {
        let conversions: number;
        [conversions, convCarry] = draw(clicks, cvr, convCarry);
        track(postOutcomes(base, sent, clicks, conversions));
        continue;
      }
      // The version this target serves is known once its inferences of this tick have answered.
      track(
        Promise.allSettled(infers).then(() => {
          const v = stats.perTarget[base]?.version;
          const r = v !== undefined && byVersion[v] !== undefined ? byVersion[v] : cvr;
          const [conversions, carry] = draw(clicks, r, targetCarry.get(base) ?? 0);
          targetCarry.set(base, carry);
          return postOutcomes(base, sent, clicks, conversions);
        }),
      );
    }
  };

  const postOutcomes = (base: string, sent: number, clicks: number, conversions: number): Promise<void> => {
    const batch = { impressions: sent, clicks, conversions, revenue: conversions * revenuePer, cost: sent * costPer };
    return post(base, `/v2/models/${model}/outcomes`, batch, auth).then(
      async (res) => {
        const text = await res.text();
        if (res.ok) {
          stats.impressions += batch.impressions;
          stats.clicks += batch.clicks;
          stats.conversions += batch.conversions;
          stats.revenue += batch.revenue;
          stats.cost += batch.cost;
          const t = of(base);
          t.impressions += batch.impressions;
          t.clicks += batch.clicks;
          t.conversions += batch.conversions;
        } else {
          stats.outcomeErrors += 1;
          stats.lastError = `outcomes HTTP ${res.status} from ${base}: ${text.slice(0, 200)}`;
        }
      },
      (err: unknown) => {
        stats.outcomeErrors += 1;
        stats.lastError = `outcomes ${base}: ${(err as Error).message}`;
      },
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
      resolveDone(snapshot());
    }
    return done;
  }

  return {
    stats: snapshot,
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
