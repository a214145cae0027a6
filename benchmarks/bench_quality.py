"""Quality benchmark: skrnn's defaults against strong classical baselines.

Every skrnn estimator runs with its defaults (only ``random_state`` set)
inside ``Pipeline([("scale", StepTransformer(StandardScaler())), ("rnn",
estimator)])`` (for the tagger's sparse word features, a vectoriser and
``MaxAbsScaler``) on every bundled data set, and is scored on held-out data
next to classical baselines and a PyTorch model of the same architecture,
all fitted in the same run on the same split. Nothing of skrnn is tuned
here; the baselines are tuned on the training part only.

Data sets, splits and what skrnn fits:

- ``japanese_vowels``, ``basic_motions``: the loaders' own train/test
  splits; ``RNNClassifier``, test accuracy.
- ``long_waves``: synthetic, generated here (seeded, the same for every
  seed of skrnn): a stand-in for long univariate recordings, which the
  project does not ship. 300 training and 300 test sequences of 300 to
  1,200 steps, 10 classes, each a (amplitude, offset, noise level) out of
  0.8/1.2, -0.5/0/0.5 and 1/2: a sine of random period (20-80 steps) and
  phase, times the amplitude, plus the offset and Gaussian noise of that
  standard deviation, in units of 10 around 50 (unscaled, as recordings
  come). The class is in summary statistics (level, spread), the kind of
  set on which a linear model on summary features is strong.
  ``RNNClassifier``, test accuracy.
- ``hkcancor_pos``: the loader's own split (by source file); X holds strings
  (the words and their Jyutping), so every word becomes a dict of its own
  features (the word, or ``<rare>`` if seen once in training; its first and
  last character; its length, capped at 4; its first and last Jyutping
  syllable), vectorised by ``StepTransformer(DictVectorizer())`` before the
  scaler, which is ``MaxAbsScaler`` (scikit-learn's scaler for sparse data:
  it leaves the 0/1 indicators as they are). ``StandardScaler(with_mean=
  False)`` (``--sparse-scaler standard``) would multiply an indicator seen k
  times in n steps by about sqrt(n / k), up to about 350 for the rarest
  words, and the tagger then learns those words' weights that much faster:
  it fits the training words within one epoch and generalises worse
  (benchmarks/README.md). ``SequenceTagger``, flat (per-word) test accuracy.
- ``sunspots`` (yearly) and ``co2`` (weekly): a chronological split, the last
  20% of each series is the test part. The series is modelled as its levels
  (sunspots) or as its step-to-step changes (co2, which trends beyond the
  training range), standardised with the training part's mean and standard
  deviation. The training part is cut into chunks of two seasons (22 years,
  104 weeks), starting every eighth of a chunk, and
  ``skrnn.forecasting.next_step`` turns them into next-step pairs for
  ``SequenceRegressor``. From every origin of the test part that leaves room
  for 12 steps, the model reads the last chunk before the origin and is run
  forward on its own predictions (the pipeline re-run on the history
  extended by each prediction, which equals ``skrnn.forecasting.generate``
  to round-off, but goes through the scaler). RMSE, in the series' units,
  one step and 12 steps ahead, over the same origins.

Baselines:

- classification: ``LogisticRegression`` on per-sequence summary features
  (per feature: mean, standard deviation, minimum, maximum, last value and
  the least-squares slope over the steps), standardised; C is chosen from
  10^-3..10^3 by stratified 5-fold cross-validation on the training set.
- tagging: a per-word ``LogisticRegression`` on the word's own features
  plus those of the previous and the next word (``<start>``/``<end>`` at the
  edges), one-hot by ``DictVectorizer``; C from {0.3, 1, 3} by the accuracy
  on a fixed 20% of the training utterances held out, then refitted on all.
- forecasting: ``Ridge`` on a fixed window of the last w values, either on
  the values or relative to the window's last value
  (``skrnn.forecasting.RelativeToLast``); w (half a season, a season, a
  season plus one, two seasons), alpha (10^-2..10^6) and the relative choice
  are tuned by the one-step RMSE of ``TimeSeriesSplit(5)`` on the training
  part's windows. 12 steps ahead it is run recursively (each forecast fed
  back as the newest value of the window).
- PyTorch (if torch is installed; ``--no-torch`` skips it): the same
  architecture as skrnn's defaults, read from the estimator's parameters
  (cell, hidden sizes, readout 'last' or a head on every step), on the same
  scaled inputs, torch's own initialisation, Adam with skrnn's learning rate,
  betas and epsilon, skrnn's batch size ('auto' is min(32, n)), the same
  global-norm clipping and the same L2 term (``0.5 * alpha * ||W||^2`` over
  the minibatch's sequences, or steps for per-step heads), for as many
  epochs as skrnn's fit ran (``n_iter_``, its stopping rule included), one
  thread. The tagger's torch model takes its 9,881-column sparse input
  through one sparse product with a weight matrix initialised as torch
  initialises input weights, feeding torch's recurrent layer (one or two
  directions) whose own input weights are frozen to an identity, so it is
  torch's cell on that input; dropout (skrnn's ``dropout``) before the head
  on every step, the loss averaged over the minibatch's steps. It runs where
  the tagger has one layer, no recurrent dropout (torch's layers have none)
  and Adam at a constant rate: ``--set recurrent_dropout=0``.

skrnn and PyTorch are fitted once per seed (``--seeds``, default 0); with
several seeds the table gives the mean and, after ±, the standard deviation
over the seeds. The baselines are deterministic. Fit times are wall time on
a shared machine: read them as orders of magnitude.

Run::

    python benchmarks/bench_quality.py
    python benchmarks/bench_quality.py --seeds 0 1 2 --datasets japanese_vowels co2
    python benchmarks/bench_quality.py --quick     # smoke run, under a minute
    python benchmarks/bench_quality.py --datasets hkcancor_pos --max-iter 20
    python benchmarks/bench_quality.py --datasets hkcancor_pos --max-iter 15 \
        --tagger-curve

``--quick`` caps skrnn at 3 epochs (so PyTorch too) and tags 1,000 training
and 500 test utterances. ``--max-iter N`` caps skrnn's epochs at N and says
so under the table: the default tagger may run up to 200 epochs over 12,392
utterances, about 13 s each on one core, long for a shared machine. A fit
that its own stopping rule ends before the cap is the default fit.
``--tagger-curve`` prints the tagger's test accuracy after each of its
``--max-iter`` epochs (fitted one epoch at a time, with no stopping rule).
"""

import argparse
import ast
import re
import time
import warnings
from collections import Counter

import numpy as np
import scipy.sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, StratifiedKFold, TimeSeriesSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, MaxAbsScaler, StandardScaler

from skrnn import RNNClassifier, SequenceRegressor, SequenceTagger
from skrnn.datasets import (
    load_basic_motions,
    load_co2,
    load_hkcancor_pos,
    load_japanese_vowels,
    load_sunspots,
)
from skrnn.forecasting import RelativeToLast, next_step
from skrnn.metrics import flat_accuracy_score
from skrnn.preprocessing import StepTransformer, sliding_windows

try:
    import torch
except ImportError:
    torch = None

DATASETS = ("japanese_vowels", "basic_motions", "long_waves", "hkcancor_pos",
            "sunspots", "co2")
TEST_FRACTION = 0.2
HORIZON = 12
SERIES = {
    "sunspots": dict(load=load_sunspots, season=11, changes=False, unit="spots"),
    "co2": dict(load=load_co2, season=52, changes=True, unit="ppm"),
}
RIDGE_ALPHAS = np.logspace(-2, 6, 9)
LOGISTIC_CS = np.logspace(-3, 3, 7)
TAGGER_CS = (0.3, 1.0, 3.0)
# Parameters set by --set, for every estimator that has them.
OVERRIDES = {}
# --sparse-scaler (the tagger's scaler of its sparse features) and
# --tagger-curve (its test accuracy after every epoch).
OPTIONS = {"sparse_scaler": "maxabs", "tagger_curve": False}
# --quick: few epochs and a subset of the tagging corpus, to check the script.
QUICK_EPOCHS = 3
QUICK_UTTERANCES = 1000
# A Jyutping syllable is letters then a tone digit; punctuation has none.
SYLLABLE = re.compile(r"[a-z]+[1-6]")


def scaled(estimator, *steps):
    """The benchmark's pipeline: optional vectoriser, per-step scaler, estimator."""
    if not steps:
        scaler = StandardScaler()
    elif OPTIONS["sparse_scaler"] == "standard":
        scaler = StandardScaler(with_mean=False)
    else:
        # Sparse indicators keep their 0/1; StandardScaler would multiply a
        # rare one by about sqrt(n_steps / its count).
        scaler = MaxAbsScaler()
    return Pipeline([*steps, ("scale", StepTransformer(scaler)), ("rnn", estimator)])


def fit_skrnn(pipeline, X, y):
    """Fit and return the wall time; ConvergenceWarning is the default's business."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(X, y)
    return time.perf_counter() - start


def defaults(estimator, max_iter):
    """The estimator as it comes, or changed by --set, --quick and --max-iter."""
    params = {name: value for name, value in OVERRIDES.items()
              if name in estimator.get_params()}
    if max_iter is not None:
        params["max_iter"] = max_iter
    return estimator.set_params(**params)


def parse_override(text):
    """``name=value`` of --set; the value is a Python literal or a string."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set takes name=value, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


# --- classification ---------------------------------------------------------

def summary_features(X):
    """Per sequence and feature: mean, std, min, max, last value, slope."""
    rows = []
    for x in X:
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        t = np.arange(x.shape[0]) - (x.shape[0] - 1) / 2
        # Least-squares slope of each feature against the step index.
        slope = t @ (x - x.mean(axis=0)) / max(t @ t, 1e-12)
        rows.append(np.concatenate([x.mean(axis=0), x.std(axis=0), x.min(axis=0),
                                    x.max(axis=0), x[-1], slope]))
    return np.array(rows)


def summary_logistic(X_train, y_train, X_test, y_test):
    model = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        {"logisticregression__C": LOGISTIC_CS},
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    ).fit(summary_features(X_train), y_train)
    return model.score(summary_features(X_test), y_test)


def load_long_waves(return_X_y=True):
    """The ``long_waves`` set (module docstring): X_train, X_test, y_train, y_test."""
    rng = np.random.default_rng(0)
    grid = [(a, b, s) for a in (0.8, 1.2) for b in (-0.5, 0.0, 0.5)
            for s in (1.0, 2.0)]
    classes = [grid[i] for i in rng.choice(len(grid), 10, replace=False)]

    def make(n):
        X, y = [], []
        for i in range(n):
            amplitude, offset, noise = classes[i % 10]
            t = np.arange(int(rng.integers(300, 1201)))
            frequency = rng.uniform(1 / 80, 1 / 20)
            x = (amplitude * np.sin(2 * np.pi * frequency * t
                                    + rng.uniform(0, 2 * np.pi))
                 + offset + noise * rng.standard_normal(t.size))
            X.append((10 * x + 50)[:, None])
            y.append(i % 10)
        return X, np.array(y)

    X_train, y_train = make(300)
    X_test, y_test = make(300)
    return X_train, X_test, y_train, y_test


def run_classification(name, load, seeds, max_iter, use_torch):
    X_train, X_test, y_train, y_test = load(return_X_y=True)
    skrnn, torch_scores, times, epochs = [], [], [], []
    for seed in seeds:
        pipeline = scaled(defaults(RNNClassifier(random_state=seed), max_iter))
        times.append(fit_skrnn(pipeline, X_train, y_train))
        skrnn.append(pipeline.score(X_test, y_test))
        rnn = pipeline[-1]
        epochs.append(rnn.n_iter_)
        if use_torch and mirrored(rnn, per_step=False):
            scaler = pipeline[0]
            classes = list(rnn.classes_)
            model = torch_fit(rnn, scaler.transform(X_train),
                              np.array([classes.index(c) for c in y_train]),
                              len(classes), per_step=False, seed=seed)
            raw = torch_predict(model, scaler.transform(X_test), per_step=False)
            predicted = np.asarray(classes)[np.argmax(raw, axis=1)]
            torch_scores.append(float(np.mean(predicted == np.asarray(y_test))))
    baseline = summary_logistic(X_train, y_train, X_test, y_test)
    return [dict(dataset=name, task="classification", metric="accuracy",
                 skrnn=skrnn, baseline=baseline,
                 baseline_name="LogisticRegression, summary features",
                 torch=torch_scores, epochs=epochs, times=times)]


# --- tagging ----------------------------------------------------------------

def word_features(words, jyutping, counts):
    """One dict of the word's own features per word of an utterance."""
    features = []
    for word, reading in zip(words, jyutping):
        syllables = SYLLABLE.findall(reading)
        features.append({
            "word": word if counts[word] > 1 else "<rare>",
            "first_char": word[0],
            "last_char": word[-1],
            # A string, so that each length is its own column.
            "length": str(min(len(word), 4)),
            "first_syllable": syllables[0] if syllables else "",
            "last_syllable": syllables[-1] if syllables else "",
        })
    return features


def with_neighbours(utterance):
    """Each word's features plus its previous and next word's, prefixed."""
    out = []
    for t, own in enumerate(utterance):
        previous = utterance[t - 1] if t > 0 else {"<start>": True}
        following = utterance[t + 1] if t + 1 < len(utterance) else {"<end>": True}
        row = dict(own)
        row.update({f"prev:{k}": v for k, v in previous.items()})
        row.update({f"next:{k}": v for k, v in following.items()})
        out.append(row)
    return out


def neighbour_logistic(X_train, y_train, X_test, y_test):
    rows = [with_neighbours(u) for u in X_train]
    # C is chosen on a fixed fifth of the training utterances, held out.
    held_out = np.random.default_rng(0).random(len(rows)) < 0.2

    def fit(C, keep):
        model = make_pipeline(DictVectorizer(), LogisticRegression(
            C=C, solver="newton-cg", tol=1e-3))
        return model.fit([f for u, k in zip(rows, keep) if k for f in u],
                         np.concatenate([y for y, k in zip(y_train, keep) if k]))

    flat_val = [f for u, k in zip(rows, held_out) if k for f in u]
    y_val = np.concatenate([y for y, k in zip(y_train, held_out) if k])
    best = max(TAGGER_CS, key=lambda C: fit(C, ~held_out).score(flat_val, y_val))
    model = fit(best, np.ones(len(rows), dtype=bool))
    flat_test = [f for u in X_test for f in with_neighbours(u)]
    return model.score(flat_test, np.concatenate(y_test)), best


def tagging_curve(pipeline, X_train, y_train, X_test, y_test, seed):
    """Fit epoch by epoch (partial_fit, which repeats fit's epochs), printing
    the test accuracy after each; the stopping rule is not applied."""
    start = time.perf_counter()
    prepare = Pipeline(pipeline.steps[:-1]).fit(X_train)
    X_fit, X_scored = prepare.transform(X_train), prepare.transform(X_test)
    tagger = pipeline[-1]
    classes = np.unique(np.concatenate(y_train))
    for epoch in range(tagger.max_iter):
        tagger.partial_fit(X_fit, y_train, classes=classes)
        accuracy = flat_accuracy_score(y_test, tagger.predict(X_scored))
        print(f"seed {seed} epoch {epoch + 1}: training loss {tagger.loss_:.4f}, "
              f"test flat accuracy {accuracy:.4f}", flush=True)
    return time.perf_counter() - start


def mirrored_tagger(tagger):
    """Whether the torch tagger has ``tagger``'s architecture and recipe."""
    return (np.atleast_1d(tagger.hidden_layer_sizes).size == 1
            and tagger.recurrent_dropout == 0 and tagger.solver == "adam"
            and tagger.learning_rate == "constant"
            and tagger.class_weight is None and tagger.bptt_steps is None
            and not tagger.early_stopping)


def run_tagging(name, seeds, max_iter, quick, use_torch):
    corpus = load_hkcancor_pos()
    train = [corpus.words_train, corpus.jyutping_train, corpus.tags_train]
    test = [corpus.words_test, corpus.jyutping_test, corpus.tags_test]
    if quick:
        train = [part[:QUICK_UTTERANCES] for part in train]
        test = [part[:QUICK_UTTERANCES // 2] for part in test]
    counts = Counter(word for words in train[0] for word in words)
    X_train = [word_features(w, j, counts) for w, j in zip(*train[:2])]
    X_test = [word_features(w, j, counts) for w, j in zip(*test[:2])]
    y_train, y_test = train[2], test[2]
    skrnn, torch_scores, times, epochs = [], [], [], []
    for seed in seeds:
        pipeline = scaled(defaults(SequenceTagger(random_state=seed), max_iter),
                          ("vectorize", StepTransformer(DictVectorizer(
                              dtype=np.float32))))
        if OPTIONS["tagger_curve"]:
            times.append(tagging_curve(pipeline, X_train, y_train, X_test,
                                       y_test, seed))
        else:
            times.append(fit_skrnn(pipeline, X_train, y_train))
        skrnn.append(flat_accuracy_score(y_test, pipeline.predict(X_test)))
        tagger = pipeline[-1]
        epochs.append(tagger.n_iter_)
        if use_torch and mirrored_tagger(tagger):
            prepare = Pipeline(pipeline.steps[:-1])
            model = torch_tagger_fit(tagger, prepare.transform(X_train), y_train,
                                     seed)
            torch_scores.append(flat_accuracy_score(y_test, torch_tagger_predict(
                model, tagger.classes_, prepare.transform(X_test))))
    baseline, C = neighbour_logistic(X_train, y_train, X_test, y_test)
    return [dict(dataset=name, task="tagging", metric="flat accuracy",
                 skrnn=skrnn, baseline=baseline,
                 baseline_name=f"LogisticRegression per word, +-1 neighbours "
                               f"(C={C:g})",
                 torch=torch_scores, epochs=epochs, times=times)]


# --- forecasting ------------------------------------------------------------

def rmse(forecast, truth):
    return float(np.sqrt(np.mean((forecast - truth) ** 2)))


def flatten(X):
    return X.reshape(X.shape[0], -1)


def make_ridge(alpha, relative):
    ridge = make_pipeline(FunctionTransformer(flatten), Ridge(alpha=alpha))
    return RelativeToLast(ridge) if relative else ridge


def tuned_ridge(train, season):
    """Ridge with the window, alpha and relative choice of least CV RMSE."""
    windows = sorted({(season + 1) // 2, season, season + 1, 2 * season})
    scores = {}
    for window in windows:
        X, y, _ = sliding_windows(train, window)
        for alpha in RIDGE_ALPHAS:
            for relative in (False, True):
                errors = [rmse(make_ridge(alpha, relative).fit(X[a], y[a])
                               .predict(X[b]), y[b])
                          for a, b in TimeSeriesSplit(5).split(X)]
                scores[window, alpha, relative] = np.mean(errors)
    window, alpha, relative = min(scores, key=scores.get)
    X, y, _ = sliding_windows(train, window)
    return make_ridge(alpha, relative).fit(X, y), window, alpha, relative


def ridge_forecast(model, values, origins, window):
    """(len(origins), HORIZON) recursive forecasts, all origins at once."""
    windows = np.stack([values[o - window:o] for o in origins])[:, :, None]
    ahead = np.empty((len(origins), HORIZON))
    for k in range(HORIZON):
        ahead[:, k] = model.predict(windows)
        windows = np.concatenate([windows[:, 1:], ahead[:, k, None, None]], axis=1)
    return ahead


def rolled_forward(predict, histories):
    """HORIZON values after each history, each prediction fed back as input."""
    histories = np.asarray(histories)[:, :, None]
    ahead = np.empty((histories.shape[0], HORIZON))
    for k in range(HORIZON):
        ahead[:, k] = predict(histories)
        histories = np.concatenate([histories, ahead[:, k, None, None]], axis=1)
    return ahead


def run_forecasting(name, seeds, max_iter, use_torch):
    spec = SERIES[name]
    values = spec["load"]().data
    season, chunk = spec["season"], 2 * spec["season"]
    first_test = int(len(values) * (1 - TEST_FRACTION))
    origins = np.arange(first_test, len(values) - HORIZON + 1)
    truth = np.stack([values[o:o + HORIZON] for o in origins])

    inputs = np.diff(values) if spec["changes"] else values
    # The changes known before origin o end with values[o-1] - values[o-2].
    ends = origins - 1 if spec["changes"] else origins
    n_train_inputs = first_test - 1 if spec["changes"] else first_test
    mean, scale = inputs[:n_train_inputs].mean(), inputs[:n_train_inputs].std()
    z = (inputs - mean) / scale
    z_train = z[:n_train_inputs]
    stride = max(1, chunk // 8)
    X, Y = next_step([z_train[a:a + chunk]
                      for a in range(0, len(z_train) - chunk + 1, stride)])
    histories = [z[e - chunk:e] for e in ends]

    def to_values(ahead):
        ahead = ahead * scale + mean
        if spec["changes"]:
            return values[origins - 1][:, None] + np.cumsum(ahead, axis=1)
        return ahead

    runs = {"skrnn": [], "torch": []}
    times, epochs = [], []
    for seed in seeds:
        pipeline = scaled(defaults(SequenceRegressor(random_state=seed), max_iter))
        times.append(fit_skrnn(pipeline, X, Y))
        epochs.append(pipeline[-1].n_iter_)
        runs["skrnn"].append(to_values(rolled_forward(
            lambda h, p=pipeline: np.array([s[-1] for s in p.predict(h)]),
            histories)))
        if use_torch and mirrored(pipeline[-1], per_step=True):
            scaler = pipeline[0]
            model = torch_fit(pipeline[-1], scaler.transform(X), Y, 1,
                              per_step=True, seed=seed)

            def predict(h, model=model, scaler=scaler):
                return torch_predict(model, scaler.transform(h), per_step=True,
                                     last_only=True)[:, 0]

            runs["torch"].append(to_values(rolled_forward(predict, histories)))

    ridge, window, alpha, relative = tuned_ridge(values[:first_test], season)
    ridge_ahead = ridge_forecast(ridge, values, origins, window)
    ridge_name = (f"Ridge, window {window}, alpha {alpha:g}, "
                  f"{'relative to last' if relative else 'levels'}, recursive")
    rows = []
    for h in (1, HORIZON):
        rows.append(dict(
            dataset=name, task=f"forecast {h} step{'s' if h > 1 else ''} ahead",
            metric=f"RMSE ({spec['unit']})",
            skrnn=[rmse(a[:, h - 1], truth[:, h - 1]) for a in runs["skrnn"]],
            torch=[rmse(a[:, h - 1], truth[:, h - 1]) for a in runs["torch"]],
            baseline=rmse(ridge_ahead[:, h - 1], truth[:, h - 1]),
            baseline_name=ridge_name, epochs=epochs, times=times))
    return rows


# --- PyTorch reference ------------------------------------------------------

def mirrored(rnn, *, per_step):
    """Whether the torch reference has ``rnn``'s architecture and recipe."""
    return (not rnn.bidirectional and rnn.dropout == 0
            and rnn.recurrent_dropout == 0 and rnn.solver == "adam"
            and rnn.learning_rate == "constant"
            and (per_step or rnn.readout == "last"))


def torch_fit(rnn, X, y, n_outputs, *, per_step, seed):
    """A torch model of ``rnn``'s architecture, trained with its recipe."""
    torch.manual_seed(seed)
    sizes = np.atleast_1d(rnn.hidden_layer_sizes).tolist()
    model = _TorchRNN(rnn.cell, X[0].shape[1], sizes, n_outputs, rnn.activation)
    optimizer = torch.optim.Adam(model.parameters(), lr=rnn.learning_rate_init,
                                 betas=(rnn.beta_1, rnn.beta_2), eps=rnn.epsilon)
    weights = [p for n, p in model.named_parameters() if "weight" in n]
    batch = min(32, len(X)) if rnn.batch_size == "auto" else rnn.batch_size
    X = [torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in X]
    if per_step:
        y = [torch.as_tensor(np.asarray(t, dtype=np.float32)).reshape(len(t), -1)
             for t in y]
    else:
        y = torch.as_tensor(y)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(rnn.n_iter_):
        for idx in torch.randperm(len(X), generator=generator).split(batch):
            out = model([X[i] for i in idx], per_step)
            if per_step:
                target = torch.cat([y[i] for i in idx])
                loss = 0.5 * ((out - target) ** 2).sum(dim=1).mean()
                n_terms = target.shape[0]
            else:
                loss = torch.nn.functional.cross_entropy(out, y[idx])
                n_terms = len(idx)
            loss = loss + 0.5 * rnn.alpha * sum((w ** 2).sum() for w in weights) / (
                n_terms)
            optimizer.zero_grad()
            loss.backward()
            if rnn.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), rnn.clip_norm)
            optimizer.step()
    return model


def torch_predict(model, X, *, per_step, last_only=False):
    X = [torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in X]
    parts = []
    with torch.inference_mode():
        for start in range(0, len(X), 256):
            batch = X[start:start + 256]
            out = model(batch, per_step)
            if last_only:
                ends = np.cumsum([len(x) for x in batch]) - 1
                out = out[torch.as_tensor(ends)]
            parts.append(out.numpy())
    return np.concatenate(parts).astype(np.float64)


if torch is not None:
    class _TorchRNN(torch.nn.Module):
        """Stacked recurrent layers and a linear head, on packed sequences."""

        def __init__(self, cell, n_features, sizes, n_outputs, activation):
            super().__init__()
            layers, n_in = [], n_features
            for size in sizes:
                if cell == "rnn":
                    layers.append(torch.nn.RNN(n_in, size, nonlinearity=activation))
                else:
                    layers.append(getattr(torch.nn, cell.upper())(n_in, size))
                n_in = size
            self.layers = torch.nn.ModuleList(layers)
            self.head = torch.nn.Linear(n_in, n_outputs)

        def forward(self, X, per_step):
            """Per-step outputs of all sequences concatenated, or one row each."""
            pack = torch.nn.utils.rnn
            lengths = torch.as_tensor([len(x) for x in X])
            packed = pack.pack_sequence(X, enforce_sorted=False)
            for layer in self.layers:
                packed, state = layer(packed)
            if not per_step:
                h = state[0] if isinstance(state, tuple) else state
                return self.head(h[-1])
            padded, _ = pack.pad_packed_sequence(packed)
            steps = torch.cat([padded[:n, i] for i, n in enumerate(lengths)])
            return self.head(steps)


def torch_tagger_fit(tagger, X, y, seed):
    """A torch tagger of ``tagger``'s architecture on its sparse per-step input,
    trained with its recipe for as many epochs as its fit ran."""
    torch.manual_seed(seed)
    classes = list(tagger.classes_)
    index = {c: i for i, c in enumerate(classes)}
    y = [torch.as_tensor([index[label] for label in labels]) for labels in y]
    model = _TorchTagger(tagger.cell, X[0].shape[1],
                         int(np.atleast_1d(tagger.hidden_layer_sizes)[0]),
                         len(classes), tagger.bidirectional, tagger.dropout,
                         tagger.activation)
    trained = [p for p in model.parameters() if p.requires_grad]
    weights = [model.W, model.head.weight] + [
        p for n, p in model.rnn.named_parameters() if n.startswith("weight_hh")]
    optimizer = torch.optim.Adam(trained, lr=tagger.learning_rate_init,
                                 betas=(tagger.beta_1, tagger.beta_2),
                                 eps=tagger.epsilon)
    batch = min(32, len(X)) if tagger.batch_size == "auto" else tagger.batch_size
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(tagger.n_iter_):
        for idx in torch.randperm(len(X), generator=generator).split(batch):
            out = model([X[i] for i in idx])
            target = torch.cat([y[i] for i in idx])
            loss = torch.nn.functional.cross_entropy(out, target)
            loss = loss + 0.5 * tagger.alpha * sum(
                (w ** 2).sum() for w in weights) / target.shape[0]
            optimizer.zero_grad()
            loss.backward()
            if tagger.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(trained, tagger.clip_norm)
            optimizer.step()
    return model


def torch_tagger_predict(model, classes, X):
    model.eval()
    labels = []
    with torch.inference_mode():
        for start in range(0, len(X), 256):
            block = X[start:start + 256]
            best = model(block).argmax(1).numpy()
            ends = np.cumsum([x.shape[0] for x in block])[:-1]
            labels += [np.asarray(classes)[b] for b in np.split(best, ends)]
    return labels


if torch is not None:
    class _TorchTagger(torch.nn.Module):
        """One recurrent layer (of one or two directions) and a linear head on
        every step, reading sparse per-step features.

        The input product x W_ih of every direction is one sparse product with
        ``W``; torch's recurrent layer then gets those gate inputs through
        input weights frozen to an identity (and zero input biases), so the
        model is torch's LSTM / GRU / RNN on the sparse input.
        """

        def __init__(self, cell, n_features, hidden, n_classes, bidirectional,
                     dropout, activation):
            super().__init__()
            gates = hidden * {"lstm": 4, "gru": 3, "rnn": 1}[cell]
            directions = 2 if bidirectional else 1
            bound = 1 / np.sqrt(hidden)
            self.W = torch.nn.Parameter(
                torch.empty(n_features, directions * gates).uniform_(-bound, bound))
            kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cell)
            if kind is None:
                self.rnn = torch.nn.RNN(directions * gates, hidden,
                                        nonlinearity=activation,
                                        bidirectional=bidirectional)
            else:
                self.rnn = kind(directions * gates, hidden,
                                bidirectional=bidirectional)
            with torch.no_grad():
                for d, suffix in enumerate(["", "_reverse"][:directions]):
                    weight = getattr(self.rnn, f"weight_ih_l0{suffix}")
                    weight.zero_()
                    weight[:, d * gates:(d + 1) * gates] = torch.eye(gates)
                    weight.requires_grad_(False)
                    bias = getattr(self.rnn, f"bias_ih_l0{suffix}")
                    bias.zero_()
                    bias.requires_grad_(False)
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(directions * hidden, n_classes)

        def forward(self, X):
            """The head's outputs at every step of X's sequences, concatenated."""
            coo = scipy.sparse.vstack(X).tocoo()
            sparse = torch.sparse_coo_tensor(
                np.vstack([coo.row, coo.col]), coo.data.astype(np.float32),
                coo.shape, check_invariants=True)
            lengths = [x.shape[0] for x in X]
            gate_inputs = torch.split(torch.sparse.mm(sparse, self.W), lengths)
            pack = torch.nn.utils.rnn
            out, _ = self.rnn(pack.pack_sequence(list(gate_inputs),
                                                 enforce_sorted=False))
            padded, _ = pack.pad_packed_sequence(out)
            steps = torch.cat([padded[:n, i] for i, n in enumerate(lengths)])
            return self.head(self.dropout(steps))


# --- the table --------------------------------------------------------------

def summary(scores):
    if not scores:
        return "n/a"
    if len(scores) == 1:
        return f"{scores[0]:.4g}"
    return f"{np.mean(scores):.4g} ± {np.std(scores, ddof=1):.2g}"


def print_table(rows, n_seeds):
    print("\n| data set | task | metric | skrnn defaults | classical baseline | "
          "baseline score | PyTorch, same model | skrnn epochs | skrnn fit (s) |")
    print("| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        epochs = "/".join(str(e) for e in r["epochs"])
        print(f"| {r['dataset']} | {r['task']} | {r['metric']} | "
              f"{summary(r['skrnn'])} | {r['baseline_name']} | "
              f"{r['baseline']:.4g} | {summary(r['torch'])} | {epochs} | "
              f"{np.mean(r['times']):.1f} |")
    if n_seeds > 1:
        print(f"\nmean ± standard deviation over {n_seeds} seeds; epochs per seed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS,
                        default=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EPOCHS} epochs, {QUICK_UTTERANCES} "
                             "training utterances of hkcancor_pos")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="cap skrnn's epochs (max_iter, default 200) to fit "
                             "a time budget: no longer the defaults")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--sparse-scaler", choices=("maxabs", "standard"),
                        default="maxabs",
                        help="the tagger's scaler of its sparse word features")
    parser.add_argument("--tagger-curve", action="store_true",
                        help="print the tagger's test accuracy after every epoch "
                             "(all --max-iter epochs, no stopping rule)")
    parser.add_argument("--set", type=parse_override, action="append", default=[],
                        metavar="NAME=VALUE",
                        help="set a parameter of every skrnn estimator that has "
                             "it (repeatable): no longer the defaults")
    args = parser.parse_args()
    OVERRIDES.update(args.set)
    OPTIONS.update(sparse_scaler=args.sparse_scaler,
                   tagger_curve=args.tagger_curve)
    if args.tagger_curve and args.max_iter is None:
        parser.error("--tagger-curve runs every epoch up to --max-iter: set it")
    max_iter = QUICK_EPOCHS if args.quick and args.max_iter is None else args.max_iter
    use_torch = torch is not None and not args.no_torch
    if use_torch:
        # Both libraries on one thread: the 2 cores are shared, and skrnn's
        # fit pins its BLAS to one thread too.
        torch.set_num_threads(1)
    elif not args.no_torch:
        print("torch is not installed: the PyTorch column is left empty")
    classification = {"japanese_vowels": load_japanese_vowels,
                      "basic_motions": load_basic_motions,
                      "long_waves": load_long_waves}
    start = time.perf_counter()
    rows = []
    for name in args.datasets:
        t = time.perf_counter()
        if name in classification:
            rows += run_classification(name, classification[name], args.seeds,
                                       max_iter, use_torch)
        elif name == "hkcancor_pos":
            rows += run_tagging(name, args.seeds, max_iter, args.quick,
                                use_torch)
        else:
            rows += run_forecasting(name, args.seeds, max_iter, use_torch)
        print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)
    print_table(rows, len(args.seeds))
    if max_iter is not None:
        print(f"skrnn's max_iter capped at {max_iter} (default 200)")
    if OVERRIDES:
        print("skrnn's parameters set:",
              ", ".join(f"{k}={v!r}" for k, v in OVERRIDES.items()))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
