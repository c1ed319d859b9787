"""Real scikit-learn models trained on scikit-learn's bundled datasets, exported to ONNX with
skl2onnx, for the tests of the holdout, architecture and regression gates.

    python3 tools/sklearn/make_fixtures.py test/fixtures/sklearn

The outputs are committed (a few hundred KB) so the suite needs no Python; rerun this after a
change and commit the result. Deterministic: every model and split is seeded.
"""
import json
import sys
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

out = Path(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/sklearn")
out.mkdir(parents=True, exist_ok=True)
manifest = {}


def export(name, model, x, zipmap):
    options = None if zipmap or not hasattr(model, "predict_proba") else {id(model): {"zipmap": False}}
    onx = to_onnx(model, x[:1].astype(np.float32), options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    (out / f"{name}.onnx").write_bytes(onx.SerializeToString())
    manifest[name] = {
        "inputs": [i.name for i in onx.graph.input],
        "outputs": [o.name for o in onx.graph.output],
        "model": type(model).__name__ if not hasattr(model, "steps") else "+".join(type(s).__name__ for _, s in model.steps),
    }


def holdout(name, x, y):
    np.savez_compressed(out / f"{name}.npz", features=x.astype(np.float32), label=y.astype(np.float64))
    with open(out / f"{name}.jsonl", "w") as f:
        for xi, yi in zip(x, y):
            f.write(json.dumps({"inputs": {"features": [round(float(v), 6) for v in xi]}, "label": float(yi)}) + "\n")


# Breast cancer: binary classification.
x, y = load_breast_cancer(return_X_y=True)
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.4, random_state=7, stratify=y)
prod = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=0)).fit(xtr, ytr)
weak = make_pipeline(StandardScaler(), LogisticRegression(C=0.0005, max_iter=2000, random_state=0)).fit(xtr[:40], ytr[:40])
export("cancer-logreg", prod, xtr, zipmap=False)          # outputs: label (int64), probabilities (float [N,2])
export("cancer-logreg-zipmap", prod, xtr, zipmap=True)    # outputs: output_label, output_probability (ZipMap)
export("cancer-logreg-weak", weak, xtr, zipmap=False)
rf = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(xtr, ytr)
export("cancer-forest", rf, xtr, zipmap=False)            # ai.onnx.ml TreeEnsembleClassifier
holdout("cancer-holdout", xte, yte)

# Digits: ten classes.
x, y = load_digits(return_X_y=True)
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=7, stratify=y)
export("digits-logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, random_state=0)).fit(xtr, ytr), xtr, zipmap=False)
export("digits-gboost", GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(xtr, ytr), xtr, zipmap=False)
holdout("digits-holdout", xte[:300], yte[:300])

# Diabetes: regression.
x, y = load_diabetes(return_X_y=True)
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.4, random_state=7)
export("diabetes-ridge", Ridge(alpha=1.0).fit(xtr, ytr), xtr, zipmap=False)
holdout("diabetes-holdout", xte, yte)

(out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
print(json.dumps(manifest, indent=2))
