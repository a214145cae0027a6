"""scikit-learn's meta-estimators and curves with skrnn models inside.

Each wraps, clones, refits or re-weights the recurrent models without knowing
that a sample is a sequence; the tests check that what the wrapper computes
from the models is what it would compute from any estimator (the soft vote
is the mean of the members' probabilities, each output of a multi-output
regressor is a model of its own, ...). Networks and data are tiny: these
check plumbing, not learning.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import BaggingClassifier, StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    KFold,
    StratifiedKFold,
    TunedThresholdClassifierCV,
    cross_val_predict,
    cross_val_score,
    learning_curve,
    validation_curve,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputRegressor

from skrnn import RNNClassifier, RNNRegressor

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


@pytest.fixture
def data(rng):
    """40 ragged sequences (3..8 steps, 2 features), binary labels."""
    X = [rng.standard_normal((int(t), 2)) for t in rng.integers(3, 9, 40)]
    y = np.array([int(x[:, 0].mean() > 0) for x in X])
    return X, y


def classifier(**params):
    return RNNClassifier((3,), max_iter=2, learning_rate_init=0.05,
                         random_state=0, **params)


def regressor(**params):
    return RNNRegressor((3,), max_iter=2, learning_rate_init=0.05,
                        random_state=0, **params)


def nested(X):
    """One column of (T_i, n_features) cells: the nested form Bagging can index."""
    table = np.empty((len(X), 1), dtype=object)
    table[:, 0] = X
    return table


def test_calibrated_classifier_cv(data):
    X, y = data
    calibrated = CalibratedClassifierCV(classifier(), cv=3).fit(X, y)
    assert len(calibrated.calibrated_classifiers_) == 3
    proba = calibrated.predict_proba(X)
    assert proba.shape == (40, 2)
    assert_allclose(proba.sum(axis=1), 1.0)
    # The calibrated probability is the mean over the folds' calibrators.
    folds = np.mean([c.predict_proba(X) for c in calibrated.calibrated_classifiers_],
                    axis=0)
    assert_allclose(proba, folds)


def test_voting_classifier_soft_vote_is_the_mean_probability(data):
    X, y = data
    members = [("lstm", classifier()), ("gru", classifier(cell="gru"))]
    vote = VotingClassifier(members, voting="soft").fit(X, y)
    mean = np.mean([clone(m).fit(X, y).predict_proba(X) for _, m in members], axis=0)
    assert_allclose(vote.predict_proba(X), mean)
    assert_array_equal(vote.predict(X), vote.classes_[mean.argmax(axis=1)])


def test_stacking_classifier_learns_from_out_of_fold_probabilities(data):
    X, y = data
    members = [("lstm", classifier()), ("gru", classifier(cell="gru"))]
    cv = StratifiedKFold(3)
    stack = StackingClassifier(members, final_estimator=LogisticRegression(),
                               cv=cv).fit(X, y)
    # Binary: each member contributes its probability of the positive class.
    features = np.column_stack([
        cross_val_predict(m, X, y, cv=cv, method="predict_proba")[:, 1]
        for _, m in members])
    final = LogisticRegression().fit(features, y)
    assert_allclose(stack.final_estimator_.coef_, final.coef_)
    on_x = np.column_stack([e.predict_proba(X)[:, 1] for e in stack.estimators_])
    assert_array_equal(stack.predict(X), final.predict(on_x))


def test_one_vs_rest_classifier(data):
    X, _ = data
    y = np.array([int(np.argmax([*x.mean(axis=0), 0.1])) for x in X])  # 3 classes
    ovr = OneVsRestClassifier(classifier()).fit(X, y)
    assert len(ovr.estimators_) == 3
    scores = np.column_stack([e.predict_proba(X)[:, 1] for e in ovr.estimators_])
    assert_array_equal(ovr.predict(X), scores.argmax(axis=1))


def test_multi_output_regressor_fits_one_model_per_output(data):
    X, _ = data
    Y = np.array([[x[:, 0].mean(), x[:, 1].sum()] for x in X])
    multi = MultiOutputRegressor(regressor()).fit(X, Y)
    for j in range(2):
        assert_array_equal(multi.predict(X)[:, j],
                           regressor().fit(X, Y[:, j]).predict(X))


def test_bagging_classifier_on_the_nested_form(data):
    """Bagging validates X with dtype=None, which a ragged list fails (NumPy
    cannot make an array of it); a one-column object array of sequences is a
    2-D table to it, and each member reads its rows as sequences."""
    X, y = data
    bag = BaggingClassifier(classifier(), n_estimators=3, random_state=0)
    bag.fit(nested(X), y)
    proba = bag.predict_proba(nested(X))
    members = np.mean([e.predict_proba(nested(X)) for e in bag.estimators_], axis=0)
    assert_allclose(proba, members)
    # The members read the nested rows as the sequences themselves.
    assert_array_equal(bag.estimators_[0].predict_proba(X),
                       bag.estimators_[0].predict_proba(nested(X)))
    # Channels as columns: max_features draws channels, as it draws features.
    channels = np.empty((len(X), 2), dtype=object)
    for i, x in enumerate(X):
        channels[i] = [x[:, 0], x[:, 1]]
    bag = BaggingClassifier(classifier(), n_estimators=2, max_features=1,
                            random_state=0).fit(channels, y)
    assert all(e.n_features_in_ == 1 for e in bag.estimators_)
    assert bag.predict_proba(channels).shape == (40, 2)


def test_learning_curve(data):
    X, y = data
    # 4 folds of 40 train every fold on 30, so the full size is each fold's
    # whole training part, as cross_val_score fits it.
    cv = KFold(4, shuffle=True, random_state=0)
    sizes, train, test = learning_curve(classifier(), X, y, cv=cv,
                                        train_sizes=[0.5, 1.0])
    assert_array_equal(sizes, [15, 30])
    assert train.shape == test.shape == (2, 4)
    assert_array_equal(test[1], cross_val_score(classifier(), X, y, cv=cv))


def test_validation_curve(data):
    X, y = data
    cv = KFold(3, shuffle=True, random_state=0)
    sizes = [(2,), (4,)]
    train, test = validation_curve(classifier(), X, y, param_name="hidden_layer_sizes",
                                   param_range=sizes, cv=cv)
    assert train.shape == test.shape == (2, 3)
    for scores, size in zip(test, sizes):
        assert_array_equal(scores, cross_val_score(
            classifier().set_params(hidden_layer_sizes=size), X, y, cv=cv))


def test_tuned_threshold_classifier_cv(data):
    X, y = data
    tuned = TunedThresholdClassifierCV(classifier(), cv=3, random_state=0)
    tuned.fit(X, y)
    assert 0.0 <= tuned.best_threshold_ <= 1.0
    positive = tuned.estimator_.predict_proba(X)[:, 1] >= tuned.best_threshold_
    assert_array_equal(tuned.predict(X), tuned.classes_[positive.astype(int)])
