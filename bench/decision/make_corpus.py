#!/usr/bin/env python3
"""Build the decision benchmark's corpus: production/candidate ONNX pairs whose true quality is known.

    python3 bench/decision/make_corpus.py --out DIR [--seed 1] [--pairs-per-task 48]

Everything comes from real data that scikit-learn ships with it (no download):

    task                     dataset                          primary metric   production model
    binary classification    load_breast_cancer (569 rows)    accuracy         StandardScaler + LogisticRegression
    multiclass               load_digits (1,797 rows)         accuracy         StandardScaler + LogisticRegression
    regression               load_diabetes (442 rows)         rmse             StandardScaler + Ridge
    conversion               load_breast_cancer (569 rows)    auc              GradientBoostingClassifier

How the truth is defined
------------------------
For each dataset the rows are shuffled with the seed and split into a training part and the
"population" (every other row). The production model is trained normally on the training part.
Candidates are trained honestly on the same training part with one recipe each, of graded
strength: retrained identically, trained on a resample of the rows, fewer training rows, label
noise (flipped classes / shuffled targets), strong regularisation, features dropped (set to a
constant while training, so the model ignores them; the input keeps its width), only a few weak
features kept, another model family (decision tree, random forest, naive Bayes, gradient
boosting) or a shallower tree. Every model takes the same input: float32 `features` of shape
[None, d]; classifiers are exported without ZipMap, so their outputs are `label` and
`probabilities`; regressors have one output, `variable`.

The TRUE value of a model is its primary metric on the whole population, computed the way the
gate computes it (binary: positive class when p >= 0.5; multiclass: argmax; auc on the
positive-class probability; rmse), from the float32 features the ONNX model sees. The TRUE
degradation of a candidate is its relative worsening against production on the population,
positive = worse: (c - b) / b for rmse, (b - c) / b for accuracy and auc. Classes: `fine` when
the degradation is <= 0.05 (identical and better candidates included), `bad` when it is > 0.15,
`between` otherwise.

Each pair gets its own holdout, drawn WITH replacement from the population (so the population is
the distribution the holdout samples, and holdout noise is real), of 100, 200, 400 or 800 rows;
the sizes are spread evenly over each class of each task. Holdouts are .npz files with a float32
`features` array (n, d) and a `label` array (int64 class ids, or float64 regression targets),
which is what src/validation/dataset.ts reads (the label array is `label.npy`).

The seed decides the splits, the candidates' recipes and their randomness, which pairs are
chosen, and the holdout draws: a different --seed gives a different corpus of the same kind.

Output: DIR/models/*.onnx, DIR/holdouts/*.npz and DIR/corpus.json (paths relative to DIR).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

import numpy as np
import onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

warnings.filterwarnings("ignore", category=ConvergenceWarning)
warnings.filterwarnings("ignore", category=UserWarning)

FINE = 0.05
BAD = 0.15
HOLDOUT_SIZES = (100, 200, 400, 800)
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
INPUT_NAME = "features"
# Share of each task's pairs per class; a class the candidate pool cannot fill is topped up from the others.
CLASS_SHARE = {"fine": 0.4, "between": 0.2, "bad": 0.4}


class CorpusError(Exception):
    pass


# ---------------------------------------------------------------- tasks

class Task:
    def __init__(self, name, dataset, kind, metric, loader, train_rows, production):
        self.name = name            # corpus task id
        self.dataset = dataset      # scikit-learn loader name
        self.kind = kind            # modelgate --task
        self.metric = metric        # primary metric
        self.loader = loader
        self.train_rows = train_rows
        self.production = production  # (label, factory)

    @property
    def classifier(self):
        return self.kind in ("classification", "conversion")

    @property
    def output_name(self):
        return "probabilities" if self.classifier else "variable"


def lr():
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))


TASKS = [
    Task("binary", "load_breast_cancer", "classification", "accuracy", load_breast_cancer, 250, ("scaler+logistic C=1", lr)),
    Task("multiclass", "load_digits", "classification", "accuracy", load_digits, 500, ("scaler+logistic C=1", lr)),
    Task("regression", "load_diabetes", "regression", "rmse", load_diabetes, 220,
         ("scaler+ridge alpha=1", lambda: make_pipeline(StandardScaler(), Ridge(alpha=1.0)))),
    Task("conversion", "load_breast_cancer", "conversion", "auc", load_breast_cancer, 250,
         ("gradient boosting 100x depth 3", lambda: GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0))),
]


def metric_value(task: Task, model, x32: np.ndarray, y: np.ndarray) -> float:
    """The primary metric the way the gate computes it (src/math/metrics.ts)."""
    x = x32.astype(np.float64)
    if task.kind == "regression":
        pred = model.predict(x).reshape(-1)
        return float(np.sqrt(np.mean((pred - y) ** 2)))
    proba = model.predict_proba(x)
    if task.metric == "auc":
        return float(roc_auc_score(y, proba[:, 1]))
    if proba.shape[1] == 2:
        pred = (proba[:, 1] >= 0.5).astype(np.int64)
    else:
        pred = np.argmax(proba, axis=1)
    return float(np.mean(pred == y))


def degradation(metric: str, base: float, cand: float) -> float:
    if metric == "rmse":
        return (cand - base) / base
    return (base - cand) / base


def klass(d: float) -> str:
    if d <= FINE:
        return "fine"
    if d > BAD:
        return "bad"
    return "between"


# ---------------------------------------------------------------- candidate recipes

def constant_columns(x: np.ndarray, cols) -> np.ndarray:
    """Features 'dropped' by training on them held at their mean: the model learns to ignore them."""
    x = x.copy()
    for c in cols:
        x[:, c] = x[:, c].mean()
    return x


def weakest_features(task: Task, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Features ordered from the least to the most informative (univariate, on the training part)."""
    scores = []
    for j in range(x.shape[1]):
        col = x[:, j]
        if np.std(col) == 0:
            scores.append(0.0)
        elif task.kind == "regression" or (task.classifier and len(np.unique(y)) == 2):
            scores.append(abs(np.corrcoef(col, y)[0, 1]))
        else:
            # multiclass: spread of the class means relative to the overall spread
            means = np.array([col[y == k].mean() for k in np.unique(y)])
            scores.append(float(np.std(means) / np.std(col)))
    return np.argsort(np.nan_to_num(np.array(scores)), kind="stable")


def recipes(task: Task, rng: np.random.Generator, x: np.ndarray, y: np.ndarray, count: int):
    """`count` candidate recipes: (description, factory, training x, training y)."""
    n, d = x.shape
    weak = weakest_features(task, x, y)
    n_classes = len(np.unique(y)) if task.classifier else 0
    out = []

    def family_model():
        depth = int(rng.integers(1, 9))
        if task.kind == "regression":
            choice = rng.choice(["tree", "forest"])
            if choice == "tree":
                return f"decision tree depth {depth}", lambda: DecisionTreeRegressor(max_depth=depth, random_state=int(rng.integers(1 << 30)))
            trees = int(rng.integers(5, 60))
            return f"random forest {trees}x depth {depth}", lambda: RandomForestRegressor(n_estimators=trees, max_depth=depth, random_state=int(rng.integers(1 << 30)))
        choice = rng.choice(["tree", "forest", "nb", "gb"] if n_classes == 2 else ["tree", "forest", "nb"])
        if choice == "tree":
            return f"decision tree depth {depth}", lambda: DecisionTreeClassifier(max_depth=depth, random_state=int(rng.integers(1 << 30)))
        if choice == "forest":
            trees = int(rng.integers(5, 60))
            return f"random forest {trees}x depth {depth}", lambda: RandomForestClassifier(n_estimators=trees, max_depth=depth, random_state=int(rng.integers(1 << 30)))
        if choice == "gb":
            est = int(rng.integers(5, 120))
            gd = int(rng.integers(1, 4))
            return f"gradient boosting {est}x depth {gd}", lambda: GradientBoostingClassifier(n_estimators=est, max_depth=gd, random_state=int(rng.integers(1 << 30)))
        return "gaussian naive Bayes", GaussianNB

    prod_label, prod_factory = task.production
    kinds = ["identical", "resample", "fewer_rows", "label_noise", "regularise", "drop_features", "weak_features", "family"]
    weights = np.array([0.06, 0.12, 0.16, 0.16, 0.12, 0.12, 0.12, 0.14])
    if task.metric == "auc":
        # auc barely moves under regularisation or fewer rows (the ranking survives): more weak-feature recipes
        weights = np.array([0.06, 0.10, 0.12, 0.14, 0.06, 0.12, 0.28, 0.12])
    for i in range(count):
        kind = "identical" if i == 0 else str(rng.choice(kinds, p=weights / weights.sum()))
        if kind == "identical":
            out.append(("identical retrain of production", prod_factory, x, y))
        elif kind == "resample":
            idx = rng.choice(n, size=n, replace=True)
            out.append((f"production recipe on a bootstrap resample of the {n} training rows", prod_factory, x[idx], y[idx]))
        elif kind == "fewer_rows":
            frac = float(np.exp(rng.uniform(np.log(0.04), np.log(0.8))))
            m = max(int(round(frac * n)), 12 if n_classes <= 2 else 3 * n_classes)
            idx = rng.choice(n, size=m, replace=False)
            if task.classifier and len(np.unique(y[idx])) < n_classes:
                idx = np.concatenate([idx, [np.flatnonzero(y == k)[0] for k in np.unique(y) if k not in set(y[idx])]])
            out.append((f"production recipe on {len(idx)} of {n} training rows", prod_factory, x[idx], y[idx]))
        elif kind == "label_noise":
            q = float(rng.uniform(0.02, 0.6))
            yy = y.copy()
            flip = rng.random(n) < q
            if task.kind == "regression":
                yy[flip] = rng.permutation(y)[: int(flip.sum())]
                what = f"{q:.0%} of training targets replaced by random ones"
            else:
                yy[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
                what = f"{q:.0%} of training labels replaced by random classes"
            out.append((f"production recipe, {what}", prod_factory, x, yy))
        elif kind == "regularise":
            if task.kind == "regression":
                alpha = float(10 ** rng.uniform(0.5, 4.0))
                out.append((f"scaler+ridge alpha={alpha:.3g}", (lambda a=alpha: make_pipeline(StandardScaler(), Ridge(alpha=a))), x, y))
            else:
                c = float(10 ** rng.uniform(-5.0, -0.5))
                out.append((f"scaler+logistic C={c:.3g}", (lambda cc=c: make_pipeline(StandardScaler(), LogisticRegression(C=cc, max_iter=5000))), x, y))
        elif kind == "drop_features":
            k = int(rng.integers(1, d))
            cols = rng.choice(d, size=k, replace=False)
            out.append((f"production recipe with {k} of {d} features dropped", prod_factory, constant_columns(x, cols), y))
        elif kind == "weak_features":
            keep = int(rng.integers(1, min(6, d) + 1))
            pool = weak[: max(keep, d // 3)]
            kept = rng.choice(pool, size=keep, replace=False)
            cols = [j for j in range(d) if j not in set(kept.tolist())]
            out.append((f"production recipe keeping only {keep} weak feature(s)", prod_factory, constant_columns(x, cols), y))
        else:
            what, factory = family_model()
            out.append((what, factory, x, y))
    return out


# ---------------------------------------------------------------- export

def export(model, d: int, path: str) -> None:
    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    sample = np.zeros((1, d), dtype=np.float32)
    onx = to_onnx(model, sample, initial_types=[(INPUT_NAME, FloatTensorType([None, d]))], options=options, target_opset=TARGET_OPSET)
    with open(path, "wb") as f:
        f.write(onx.SerializeToString())


def signature(path: str):
    m = onnx.load(path)

    def sig(values):
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = [dim.dim_value if dim.HasField("dim_value") else "?" for dim in t.shape.dim]
            out.append((v.name, t.elem_type, tuple(dims)))
        return out

    return sig(m.graph.input), sig(m.graph.output)


# ---------------------------------------------------------------- corpus

def build_task(task: Task, seed: int, task_index: int, pairs: int, out: str, log) -> list[dict]:
    rng = np.random.default_rng([seed, task_index])
    data = task.loader()
    x_all = np.ascontiguousarray(data.data, dtype=np.float32)  # what the ONNX model sees
    y_all = data.target.astype(np.float64 if task.kind == "regression" else np.int64)
    order = rng.permutation(len(y_all))
    tr, pop = order[: task.train_rows], order[task.train_rows:]
    xt, yt, xp, yp = x_all[tr], y_all[tr], x_all[pop], y_all[pop]
    d = x_all.shape[1]
    xt64 = xt.astype(np.float64)

    prod_label, prod_factory = task.production
    prod = prod_factory().fit(xt64, yt)
    prod_value = metric_value(task, prod, xp, yp)
    prod_file = f"models/{task.name}-production.onnx"
    export(prod, d, os.path.join(out, prod_file))
    prod_sig = signature(os.path.join(out, prod_file))
    log(f"{task.name}: {task.dataset}, {len(tr)} training rows, population {len(pop)}, production {prod_label}: {task.metric} {prod_value:.4f}")

    # A pool of candidates, several per pair, then a stratified choice of `pairs` of them.
    pool = []
    for j, (what, factory, x, y) in enumerate(recipes(task, rng, xt64, yt, max(3 * pairs, 24))):
        model = factory().fit(x, y)
        value = metric_value(task, model, xp, yp)
        if not math.isfinite(value):
            continue
        deg = degradation(task.metric, prod_value, value)
        pool.append({"recipe": what, "model": model, "value": value, "degradation": deg, "class": klass(deg), "j": j})

    by_class = {k: [c for c in pool if c["class"] == k] for k in CLASS_SHARE}
    want = {k: int(round(pairs * s)) for k, s in CLASS_SHARE.items()}
    want["fine"] += pairs - sum(want.values())
    chosen: dict[str, list] = {}
    short = 0
    for k in ("bad", "between", "fine"):
        cands = list(by_class[k])
        # the first candidate, an identical retrain, is always in (the plainest "truly fine" case); the rest in a seeded order
        cands.sort(key=lambda c: (c["j"] != 0, rng.random()))
        chosen[k] = cands[: want[k]]
        short += max(0, want[k] - len(chosen[k]))
    for k in ("fine", "bad", "between"):  # top up a short class from the others
        extra = [c for c in by_class[k] if c not in chosen[k]]
        take = extra[:short]
        chosen[k] += take
        short -= len(take)
    if short > 0:  # still short: reuse candidates with other holdout draws
        flat = [c for k in chosen for c in chosen[k]]
        for i in range(short):
            c = flat[i % len(flat)]
            chosen[c["class"]].append(c)

    entries = []
    exported: dict[int, str] = {}
    for k in ("fine", "between", "bad"):
        # sizes spread evenly over the class, in a seeded order
        sizes = [HOLDOUT_SIZES[i % len(HOLDOUT_SIZES)] for i in range(len(chosen[k]))]
        rng.shuffle(sizes)
        for c, size in zip(chosen[k], sizes):
            pid = f"{task.name}-{len(entries):03d}"
            if c["j"] not in exported:
                cand_file = f"models/{task.name}-cand-{c['j']:03d}.onnx"
                export(c["model"], d, os.path.join(out, cand_file))
                if signature(os.path.join(out, cand_file)) != prod_sig:
                    raise CorpusError(f"{cand_file}: its inputs/outputs {signature(os.path.join(out, cand_file))} differ from the production model's {prod_sig}")
                exported[c["j"]] = cand_file
            idx = rng.choice(len(pop), size=size, replace=True)
            holdout_file = f"holdouts/{pid}.npz"
            np.savez_compressed(os.path.join(out, holdout_file),
                                features=np.ascontiguousarray(xp[idx], dtype=np.float32),
                                label=np.ascontiguousarray(yp[idx]))
            entries.append({
                "id": pid,
                "task": task.kind,
                "taskName": task.name,
                "dataset": task.dataset,
                "holdoutSize": size,
                "production": prod_file,
                "candidate": exported[c["j"]],
                "holdout": holdout_file,
                "outputName": task.output_name,
                "primaryMetric": task.metric,
                "productionRecipe": prod_label,
                "candidateRecipe": c["recipe"],
                "trueProduction": prod_value,
                "trueCandidate": c["value"],
                "trueDegradation": c["degradation"],
                "class": c["class"],
            })
    counts = {k: sum(1 for e in entries if e["class"] == k) for k in CLASS_SHARE}
    log(f"{task.name}: {len(entries)} pairs (fine {counts['fine']}, between {counts['between']}, bad {counts['bad']}) from a pool of {len(pool)} "
        f"(fine {len(by_class['fine'])}, between {len(by_class['between'])}, bad {len(by_class['bad'])}); {len(exported)} candidate models")
    return entries


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder to write the corpus into (created; must be empty if it exists)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the splits, recipes, pair choice and holdout draws (default 1)")
    ap.add_argument("--pairs-per-task", type=int, default=48, help="pairs per task (default 48: 192 pairs over 4 tasks)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.pairs_per_task < 4:
        ap.error("--pairs-per-task must be at least 4")
    out = os.path.abspath(args.out)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise CorpusError(f"{out} exists and is not an empty folder: pass a new --out")
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    os.makedirs(os.path.join(out, "holdouts"), exist_ok=True)
    log = (lambda _m: None) if args.quiet else (lambda m: print(f"[make_corpus] {m}", file=sys.stderr, flush=True))

    pairs = []
    for i, task in enumerate(TASKS):
        pairs += build_task(task, args.seed, i, args.pairs_per_task, out, log)
    manifest = {
        "generator": "bench/decision/make_corpus.py",
        "seed": args.seed,
        "pairsPerTask": args.pairs_per_task,
        "bands": {"fine": f"degradation <= {FINE}", "bad": f"degradation > {BAD}", "between": "otherwise"},
        "degradation": "relative worsening vs production on the population, positive = worse: (c-b)/b for rmse, (b-c)/b for accuracy and auc",
        "versions": {"scikit-learn": __import__("sklearn").__version__, "skl2onnx": __import__("skl2onnx").__version__, "numpy": np.__version__},
        "pairs": pairs,
    }
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    counts = {k: sum(1 for p in pairs if p["class"] == k) for k in CLASS_SHARE}
    log(f"wrote {os.path.join(out, 'corpus.json')}: {len(pairs)} pairs (fine {counts['fine']}, between {counts['between']}, bad {counts['bad']})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CorpusError as e:
        print(f"make_corpus: {e}", file=sys.stderr)
        sys.exit(2)
